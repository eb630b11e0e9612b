"""SSE and NDJSON framing: the same events however the bytes are cut, linear time on an
event that arrives in many small reads, and a cap on what one event may hold."""

from __future__ import annotations

import random
import time

import pytest

from supervisors.adapters.sse import LineSplitter, SSEParser
from supervisors.errors import UntranslatableAnswer


def _reference(stream: bytes) -> list[tuple[str | None, bytes]]:
    """The SSE rules we implement, on the whole body at once (LF or CRLF line ends)."""
    events: list[tuple[str | None, bytes]] = []
    event: str | None = None
    data: list[bytes] = []
    for line in stream.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            if data:
                events.append((event, b"\n".join(data)))
            event, data = None, []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode()
    if data:
        events.append((event, b"\n".join(data)))
    return events


def _random_stream(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(1, 12)):
        eol = rng.choice([b"\n", b"\n", b"\r\n"])
        lines = []
        if rng.random() < 0.3:
            lines.append(b"event: " + rng.choice([b"message_start", b"ping", b"delta"]))
        if rng.random() < 0.2:
            lines.append(b": keep-alive")
        for _ in range(rng.randint(1, 3)):
            lines.append(rng.choice([b"data: ", b"data:"]) + bytes(
                rng.choice(b'{}"abc xyz[]:,') for _ in range(rng.randint(0, 40))))
        parts.append(eol.join(lines) + eol + eol)
    return b"".join(parts)


@pytest.mark.parametrize("seed", range(300))
def test_sse_events_do_not_depend_on_how_the_bytes_are_cut(seed: int) -> None:
    rng = random.Random(seed)
    stream = _random_stream(rng)
    parser = SSEParser()
    got: list[tuple[str | None, bytes]] = []
    at = 0
    while at < len(stream):
        step = rng.choice([1, 2, 3, 7, 64, 1000])
        got.extend(parser.feed(stream[at:at + step]))
        at += step
    got.extend(parser.flush())
    assert got == _reference(stream)


@pytest.mark.parametrize("seed", range(100))
def test_ndjson_lines_do_not_depend_on_how_the_bytes_are_cut(seed: int) -> None:
    rng = random.Random(seed)
    lines = [bytes(rng.choice(b'{}"ab :') for _ in range(rng.randint(0, 30)))
             for _ in range(rng.randint(1, 20))]
    stream = b"\n".join(lines) + rng.choice([b"", b"\n"])
    splitter = LineSplitter()
    got: list[bytes] = []
    at = 0
    while at < len(stream):
        step = rng.choice([1, 2, 5, 64])
        got.extend(splitter.feed(stream[at:at + step]))
        at += step
    got.extend(splitter.flush())
    assert got == [line for line in lines if line.strip()]


def _feed_until_refused(feed, pieces: int, piece: bytes) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for i in range(pieces):
        try:
            feed(piece)
        except UntranslatableAnswer:
            return i, time.perf_counter() - started
    return pieces, time.perf_counter() - started


@pytest.mark.parametrize("kind", ["sse-line", "sse-data-lines", "ndjson"])
def test_a_huge_unterminated_event_in_small_reads_is_linear_and_capped(kind: str) -> None:
    limit = 4 << 20
    if kind == "ndjson":
        feed = LineSplitter(limit).feed
        feed(b'{"message": {"content": "')
        piece = b"x" * 256
    else:
        feed = SSEParser(limit).feed
        feed(b'data: {"choices": [{"delta": {"content": "')
        # one endless line, or endless data: lines of one event that never ends
        piece = b"x" * 256 if kind == "sse-line" else b"data: " + b"x" * 250 + b"\n"
    refused_at, seconds = _feed_until_refused(feed, 100_000, piece)
    # refused once the event passed the cap, not before (a data line counts its value
    # and the line end that joins it to the next)
    unit = 251 if kind == "sse-data-lines" else 256
    assert limit // unit - 2 <= refused_at <= limit // unit + 2
    # 16k reads over a 4 MiB event: re-scanning the buffer on each read would take many
    # seconds (4 MiB x 16k / 2 = 32 GB scanned); linear framing takes milliseconds
    assert seconds < 1.0, seconds


def test_events_under_the_cap_pass_and_a_complete_oversized_one_is_refused() -> None:
    parser = SSEParser(1000)
    assert parser.feed(b"data: " + b"a" * 1000 + b"\n\n") == [(None, b"a" * 1000)]
    with pytest.raises(UntranslatableAnswer):
        parser.feed(b"data: " + b"a" * 1001 + b"\n\n")
    splitter = LineSplitter(1000)
    assert splitter.feed(b"b" * 1000 + b"\n") == [b"b" * 1000]
    with pytest.raises(UntranslatableAnswer):
        splitter.feed(b"b" * 1001 + b"\n")
