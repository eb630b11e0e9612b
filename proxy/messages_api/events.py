"""One Messages API event stream per request, from whatever the serving hops produce.

Two kinds of batch arrive (``op`` says which):

* ``messages``: Anthropic events relayed natively. They are written from their original
  bytes while the stream stays on its first upstream message. Once a resumed answer
  starts (a second ``message_start``), its block indexes are mapped onto the client's:
  its first text block continues the text block the client has open, the duplicate
  ``message_start`` is dropped.
* ``chat``: OpenAI chunks of a translated hop, turned into events as they come:
  ``message_start`` (then a ``ping``), a text block for ``delta.content``, one
  ``tool_use`` block per tool call (``input_json_delta`` for its argument pieces, several
  calls in one answer included), the block closed when the next starts or the answer
  finishes; ``message_delta`` (stop reason, usage) and ``message_stop`` at the end.

Either can follow the other after a resume; the client sees one message.
"""

from __future__ import annotations

from typing import Any

import orjson

from supervisors.errors import ProxyError
from supervisors.messages import Chunk, Op

from ..router import Trace
from .answer import message_id, messages_usage, parse_arguments, stop_of
from .errors import error_event

__all__ = ["MessagesStream"]

_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def _frame(kind: str, data: bytes) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


def _event(obj: dict[str, Any]) -> bytes:
    return _frame(obj["type"], orjson.dumps(obj))



def _obj(value: Any) -> dict[str, Any]:
    """A nested object of an upstream event, or an empty one when it is not an object."""
    return value if isinstance(value, dict) else {}

class MessagesStream:
    #: written by the pipeline while the upstream is quiet (see ``api.slow_clients``)
    keepalive = _PING

    __slots__ = (
        "_ended",
        "_map",
        "_model",
        "_next",
        "_open",
        "_open_text",
        "_refused",
        "_remap",
        "_started",
        "_stop",
        "_stop_sequences",
        "_stop_sequence",
        "_tools",
        "_usage",
    )

    def __init__(self, model: str, stop_sequences: list[str] | None) -> None:
        self._model = model
        self._stop_sequences = stop_sequences
        self._started = False
        #: the client's open block: its index, and whether it is a text block
        self._open: int | None = None
        self._open_text = False
        self._next = 0
        #: native mode after a resume: upstream block index → the client's
        self._remap = False
        self._map: dict[Any, int] = {}
        #: translated mode: OpenAI tool call index → the client's block index
        self._tools: dict[int, int] = {}
        self._stop: str | None = None
        self._stop_sequence: str | None = None
        #: the translated answer is an OpenAI refusal
        self._refused = False
        self._usage: dict[str, Any] | None = None
        #: message_delta (with the stop reason) and message_stop already written
        self._ended = 0

    # -- the pipeline's encoder interface ----------------------------------------------

    def batch(self, chunks: list[Chunk], op: Op) -> bytes:
        out: list[bytes] = []
        if op == "messages":
            for chunk in chunks:
                self._native(chunk, out)
        else:
            for chunk in chunks:
                self._chat(chunk.obj, out)
        return b"".join(out)

    def done(self, trace: Trace) -> bytes:
        if self._ended >= 2:
            return b""
        out: list[bytes] = []
        self._start(out, "", self._model)
        self._close(out)
        if not self._ended:
            usage = messages_usage(self._usage or trace.usage)
            out.append(_event({
                "type": "message_delta",
                "delta": {"stop_reason": self._stop or "end_turn",
                          "stop_sequence": self._stop_sequence},
                "usage": usage,
            }))
        out.append(_event({"type": "message_stop"}))
        self._ended = 2
        return b"".join(out)

    def error(self, err: ProxyError) -> bytes:
        return error_event(err)

    # -- native events -------------------------------------------------------------------

    def _native(self, chunk: Chunk, out: list[bytes]) -> None:
        event = chunk.obj
        kind = event.get("type")
        if kind == "message_start":
            if self._started:
                self._remap, self._map = True, {}  # a resumed answer begins
                return
            self._started = True
        elif kind == "content_block_start":
            if self._remap and self._continues(event):
                return
            self._close(out)
            index = self._next
            block = _obj(event.get("content_block"))
            self._open, self._open_text, self._next = index, block.get("type") == "text", index + 1
            if self._remap or event.get("index") != index:
                self._map[event.get("index")] = index
                out.append(_event({**event, "index": index}))
                return
        elif kind == "content_block_delta":
            if self._remap or event.get("index") in self._map:
                mapped = self._map.get(event.get("index"))
                if mapped is None:
                    return
                out.append(_event({**event, "index": mapped}))
                return
        elif kind == "content_block_stop":
            if self._remap or event.get("index") in self._map:
                mapped = self._map.get(event.get("index"))
                if mapped is None or mapped != self._open:
                    return
                self._open = None
                out.append(_event({**event, "index": mapped}))
                return
            self._open = None
        elif kind == "message_delta":
            delta = _obj(event.get("delta"))
            self._stop = delta.get("stop_reason") or self._stop
            self._ended = 1
        elif kind == "message_stop":
            self._ended = 2
        raw = chunk.raw if chunk.raw is not None else orjson.dumps(event)
        out.append(_frame(str(kind), raw))

    def _continues(self, event: dict[str, Any]) -> bool:
        """The first text block of a resumed answer continues the client's open one."""
        block = _obj(event.get("content_block"))
        if block.get("type") == "text" and self._open is not None and self._open_text:
            self._map[event.get("index")] = self._open
            return True
        return False

    # -- translated chunks ---------------------------------------------------------------

    def _start(self, out: list[bytes], id_: Any, model: Any) -> None:
        if self._started:
            return
        self._started = True
        zero = messages_usage(None)
        out.append(_event({"type": "message_start", "message": {
            "id": message_id(id_), "type": "message", "role": "assistant",
            "model": str(model or self._model), "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": zero}}))
        out.append(_PING)

    def _chat(self, obj: dict[str, Any], out: list[bytes]) -> None:
        self._start(out, obj.get("id"), obj.get("model"))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        choices = obj.get("choices")
        if not choices:
            return
        choice = choices[0] if isinstance(choices, list) else None
        if not isinstance(choice, dict):
            return
        delta = _obj(choice.get("delta"))
        text = delta.get("content") or delta.get("refusal")
        if delta.get("refusal"):
            self._refused = True
        if text:
            if not (self._open is not None and self._open_text):
                self._block(out, {"type": "text", "text": ""}, text=True)
            out.append(_event({"type": "content_block_delta", "index": self._open,
                               "delta": {"type": "text_delta", "text": text}}))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                self._tool_call(call, out)
        if choice.get("finish_reason"):
            self._close(out)
            self._stop, self._stop_sequence = stop_of(choice, self._stop_sequences)
            if self._stop == "end_turn" and self._tools:
                self._stop = "tool_use"
            elif self._stop == "end_turn" and self._refused:
                self._stop = "refusal"

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        position = call.get("index", 0)
        function = _obj(call.get("function"))
        index = self._tools.get(position)
        if index is None:
            index = self._block(out, {
                "type": "tool_use", "id": str(call.get("id") or f"toolu_{position}"),
                "name": str(function.get("name") or ""), "input": {}}, text=False)
            self._tools[position] = index
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # an upstream that sends whole objects (Ollama)
            arguments = orjson.dumps(parse_arguments(arguments)).decode()
        if arguments:
            out.append(_event({"type": "content_block_delta", "index": index,
                               "delta": {"type": "input_json_delta",
                                         "partial_json": arguments}}))

    def _block(self, out: list[bytes], block: dict[str, Any], *, text: bool) -> int:
        self._close(out)
        index = self._next
        self._open, self._open_text, self._next = index, text, index + 1
        out.append(_event({"type": "content_block_start", "index": index,
                           "content_block": block}))
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_event({"type": "content_block_stop", "index": self._open}))
            self._open = None
