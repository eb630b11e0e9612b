"""Chat chunks → Responses stream events, incrementally, one batch at a time.

Every upstream batch becomes the events it implies, written at once: the first text opens
a ``message`` item and its ``output_text`` part, each tool call opens a ``function_call``
item, and deltas follow as they arrive. At the end every open item is closed (``.done``
events in order) and the terminal event carries the whole response, which is the same
object the non-streaming call returns (``ResponseShell``), so the SDK's ``stream()``
accumulator assembles exactly that.

    events = ResponseEvents(shell)
    write(events.head())
    for batch in batches: write(events.batch(batch))
    write(events.done(usage))   # or events.error(err)
    events.response             # the final object, for the store
"""

from __future__ import annotations

from typing import Any

import orjson

from supervisors.errors import ProxyError
from supervisors.messages import Chunk

from .items import new_id
from .output import ResponseShell, finish_status, function_item, message_item, usage_of

__all__ = ["ResponseEvents"]


_DELTA_HEAD = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'


class _Text:
    __slots__ = ("delta_tail", "id", "index", "parts")

    def __init__(self, index: int) -> None:
        self.id = new_id("msg")
        self.index = index
        self.parts: list[str] = []
        #: the fixed end of every delta event of this item (the hot path: one per chunk)
        self.delta_tail = (f',"item_id":"{self.id}","output_index":{index},'
                           '"content_index":0,"logprobs":[],"delta":').encode()


class _Call:
    __slots__ = ("call_id", "id", "index", "name", "parts")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.id = new_id("fc")
        self.index = index
        self.call_id = call_id
        self.name = name
        self.parts: list[str] = []


class ResponseEvents:
    """The event encoder of one streamed response."""

    def __init__(self, shell: ResponseShell) -> None:
        self.shell = shell
        self._seq = 0
        self._out: list[bytes] = []
        self._items: list[_Text | _Call] = []
        self._text: _Text | None = None
        self._calls: dict[int, _Call] = {}
        self._closed: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        #: the final response object once ``done`` or ``error`` ran
        self.response: dict[str, Any] | None = None

    # -- framing ------------------------------------------------------------------------
    def _emit(self, kind: str, fields: dict[str, Any]) -> None:
        data = orjson.dumps({"type": kind, "sequence_number": self._seq, **fields})
        self._seq += 1
        self._out.append(b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n")

    def _flush(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out

    # -- the stream ---------------------------------------------------------------------
    def head(self) -> bytes:
        skeleton = self.shell.render("in_progress", [])
        self._emit("response.created", {"response": skeleton})
        self._emit("response.in_progress", {"response": skeleton})
        return self._flush()

    def batch(self, chunks: list[Chunk]) -> bytes:
        for chunk in chunks:
            obj = chunk.obj
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self._usage = usage
            choices = obj.get("choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                continue
            choice = choices[0]
            delta = choice.get("delta")
            if isinstance(delta, dict):
                text = delta.get("content")
                if isinstance(text, str) and text:
                    self._on_text(text)
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    for call in calls:
                        if isinstance(call, dict):
                            self._on_call(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return self._flush()

    def _on_text(self, text: str) -> None:
        item = self._text
        if item is None:
            item = self._text = _Text(len(self._items))
            self._items.append(item)
            self._emit("response.output_item.added", {
                "output_index": item.index,
                "item": {"id": item.id, "type": "message", "status": "in_progress",
                         "content": [], "role": "assistant"}})
            self._emit("response.content_part.added", {
                "item_id": item.id, "output_index": item.index, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [],
                         "logprobs": []}})
        item.parts.append(text)
        self._out.append(b"%s\"sequence_number\":%d%s%s}\n\n" % (
            _DELTA_HEAD, self._seq, item.delta_tail, orjson.dumps(text)))
        self._seq += 1

    def _on_call(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index", 0)
        if not isinstance(index, int):
            index = 0
        raw = fragment.get("function")
        function: dict[str, Any] = raw if isinstance(raw, dict) else {}
        call = self._calls.get(index)
        if call is None:
            if self._text is not None:  # text before the calls is finished
                self._close_text("completed")
            call = _Call(len(self._items), str(fragment.get("id") or new_id("call")),
                         str(function.get("name") or ""))
            self._calls[index] = call
            self._items.append(call)
            self._emit("response.output_item.added", {
                "output_index": call.index,
                "item": function_item(call.id, call.call_id, call.name, "", "in_progress")})
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            call.parts.append(arguments)
            self._emit("response.function_call_arguments.delta", {
                "item_id": call.id, "output_index": call.index, "delta": arguments})

    def _close_text(self, status: str) -> dict[str, Any]:
        item = self._text
        assert item is not None
        self._text = None
        text = "".join(item.parts)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        self._emit("response.output_text.done", {
            "item_id": item.id, "output_index": item.index, "content_index": 0, "text": text,
            "logprobs": []})
        self._emit("response.content_part.done", {
            "item_id": item.id, "output_index": item.index, "content_index": 0, "part": part})
        done = message_item(item.id, text, status)
        self._emit("response.output_item.done", {"output_index": item.index, "item": done})
        self._closed[item.index] = done
        return done

    def _close_call(self, call: _Call) -> dict[str, Any]:
        arguments = "".join(call.parts)
        self._emit("response.function_call_arguments.done", {
            "item_id": call.id, "output_index": call.index, "arguments": arguments,
            "name": call.name})
        done = function_item(call.id, call.call_id, call.name, arguments, "completed")
        self._emit("response.output_item.done", {"output_index": call.index, "item": done})
        self._closed[call.index] = done
        return done

    def _close_all(self, status: str) -> list[dict[str, Any]]:
        if self._text is not None:
            self._close_text(status)
        for call in self._calls.values():
            if call.index not in self._closed:
                self._close_call(call)
        return [self._closed[i] for i in sorted(self._closed)]

    def done(self, usage: dict[str, Any] | None) -> bytes:
        """Close every item and end with ``response.completed`` / ``.incomplete``."""
        status, incomplete = finish_status(self._finish)
        output = self._close_all("incomplete" if incomplete else "completed")
        if not output:  # an empty answer is still one (empty) message, as whole answers
            self._on_text_empty()
            output = self._close_all("incomplete" if incomplete else "completed")
        self.response = self.shell.render(status, output, usage=usage_of(usage or self._usage),
                                          incomplete=incomplete)
        self._emit(f"response.{status}", {"response": self.response})
        return self._flush()

    def _on_text_empty(self) -> None:
        item = self._text = _Text(len(self._items))
        self._items.append(item)
        self._emit("response.output_item.added", {
            "output_index": item.index,
            "item": {"id": item.id, "type": "message", "status": "in_progress", "content": [],
                     "role": "assistant"}})
        self._emit("response.content_part.added", {
            "item_id": item.id, "output_index": item.index, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}})

    def error(self, err: ProxyError) -> bytes:
        """The stream broke after it started: ``response.failed`` with what was produced."""
        output = self._close_all("incomplete")
        self.response = self.shell.failed(err, output)
        self._emit("response.failed", {"response": self.response})
        return self._flush()
