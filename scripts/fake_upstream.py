#!/usr/bin/env python
"""Run one fake upstream LLM server by hand (uvloop) until SIGINT/SIGTERM.

    python scripts/fake_upstream.py --kind openai --port 9101 --keys sk-a,sk-b

Steer it over HTTP: ``POST /_fault`` (JSON spec or list), ``DELETE /_fault``,
``GET /_stats``, ``POST /_reset``, ``GET /_requests``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop

from tests.fakes import FakeUpstream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kind", choices=("openai", "anthropic", "ollama"), required=True)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--keys", default=None, help="comma-separated accepted API keys")
    parser.add_argument("--models", default=None, help="comma-separated model allow-list")
    args = parser.parse_args(argv)
    keys = {k for k in args.keys.split(",") if k} if args.keys else None
    models = [m for m in args.models.split(",") if m] if args.models else None

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    with FakeUpstream(args.kind, keys=keys, port=args.port, models=models,
                      loop_factory=uvloop.new_event_loop) as fake:
        print(f"fake {args.kind} listening on {fake.url} (SDK base_url {fake.base_url})", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
