"""A streaming chat completion consumed in its own thread, with what it saw and when."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .cluster import sdk

__all__ = ["StreamReader"]


@dataclass
class StreamReader:
    url: str
    key: str
    model: str
    prompt: str
    timeout: float = 60.0
    tokens: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    error: BaseException | None = None
    ended_at: float | None = None
    _started: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StreamReader:
        self._thread = threading.Thread(target=self._run, name="stream", daemon=True)
        self._thread.start()
        return self

    def wait_started(self, timeout: float) -> bool:
        """True once the first content token has arrived."""
        return self._started.wait(timeout)

    def wait_done(self, timeout: float) -> bool:
        done = self._done.wait(timeout)
        if done and self._thread is not None:
            self._thread.join(1.0)
        return done

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def _run(self) -> None:
        try:
            with sdk(self.url, self.key, timeout=self.timeout) as client:
                stream = client.chat.completions.create(
                    model=self.model, stream=True,
                    messages=[{"role": "user", "content": self.prompt}],
                )
                for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta.content:
                            self.tokens.append(choice.delta.content)
                            self._started.set()
                        if choice.finish_reason:
                            self.finish_reason = choice.finish_reason
        except Exception as exc:  # recorded for the test to judge
            self.error = exc
        finally:
            self.ended_at = time.monotonic()
            self._started.set()
            self._done.set()
