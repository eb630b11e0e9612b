"""The adapter interface: pure translation between OpenAI objects and one provider's API.

An adapter never does I/O, reads no clock and holds no globals. The provider worker
(``supervisors.worker``) sends the :class:`UpstreamRequest` an adapter builds, and feeds
what comes back to the adapter's parsers. Stateful stream translation lives in a
:class:`StreamDecoder` object created per stream.

Adding a provider type = one module implementing :class:`Adapter` + one entry in
``supervisors.adapters.registry``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from ..errors import ProxyError
from ..messages import Chunk, Op, Result
from ..spec import ProviderSpec

__all__ = [
    "MAX_RETRY_AFTER",
    "Adapter",
    "StreamDecoder",
    "UpstreamRequest",
    "parse_retry_after",
]


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


class StreamDecoder(Protocol):
    #: the terminal marker was seen ([DONE], message_stop, done: true)
    done: bool
    #: usage reported by the upstream, OpenAI-shaped, once known
    usage: dict[str, Any] | None
    #: malformed events skipped so far
    malformed: int

    def feed(self, data: bytes) -> list[Chunk]:
        """Translate the next bytes of the upstream body into OpenAI chunks.

        Raises a ``ProxyError`` (usually ``StreamBroken``) for an in-stream error event.
        """
        ...

    def close(self) -> list[Chunk]:
        """The upstream body ended: flush what is buffered."""
        ...


class PendingError:
    """For stream decoders: an in-stream error met after chunks that must still reach the
    client is kept in ``_error`` and raised by the decoder's next ``feed``/``close``."""

    __slots__ = ("_error",)

    _error: ProxyError | None

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error


class Adapter(Protocol):
    type: str
    #: operations this provider type can serve; others answer UnsupportedOperation
    ops: frozenset[Op]

    def build_request(
        self, op: Op, body: dict[str, Any], *, stream: bool, spec: ProviderSpec, key: str | None
    ) -> UpstreamRequest:
        """``body`` is the OpenAI request with ``model`` set to the upstream model."""
        ...

    def parse_response(self, op: Op, body: bytes, request: dict[str, Any]) -> Result: ...

    def parse_error(
        self, status: int, body: bytes, headers: Mapping[str, str], provider: str
    ) -> ProxyError: ...

    def stream_decoder(self, op: Op, request: dict[str, Any]) -> StreamDecoder: ...


#: the longest wait an upstream's Retry-After may impose (a key rests at most this long)
MAX_RETRY_AFTER = 3600.0


def _seconds(value: float) -> float | None:
    """A usable wait: non-finite is no wait given (None), negative is 0, huge is capped."""
    if not math.isfinite(value):
        return None
    return min(max(0.0, value), MAX_RETRY_AFTER)


def parse_retry_after(headers: Mapping[str, str], now_epoch: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header, if any, within
    ``[0, MAX_RETRY_AFTER]``; ``inf``/``nan`` count as no header.

    ``now_epoch`` is needed only for the HTTP-date form; without it that form is ignored.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            seconds = _seconds(float(ms) / 1000.0)
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    if now_epoch is None:
        return None
    try:
        return _seconds(parsedate_to_datetime(value).timestamp() - now_epoch)
    except (TypeError, ValueError, OverflowError):
        return None
