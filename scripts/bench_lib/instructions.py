"""Instructions per request, counted by callgrind: repeatable on a busy machine.

``scripts/bench --instructions`` starts the fake upstream, then the floor and the gateway
one at a time under ``valgrind --tool=callgrind`` (instrumentation off until the warm-up
is done), sends the same closed-loop load to each and reads the instructions each
executed per request (user space only: what the kernel does for a syscall is not
counted). CPU time depends on what else runs on the machine; this count does not, so two
trees can be compared within a fraction of a percent while other work runs — the CPU
figures of the other phases stay the measure that is reported, this one is for A/B work.

``--proxy-cmd`` may start with ``NAME=value`` words: they go to the gateway's environment
(valgrind must start the interpreter itself, so ``env`` cannot be used), e.g.
``--proxy-cmd "AUDIT_ENABLED=false {python} -m proxy serve --host 127.0.0.1 --port {port}"``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from .loads import Target, closed_loop
from .procs import Proc

__all__ = ["count_instructions"]

_TOTALS = re.compile(rb"^(?:totals|summary):\s+(\d+)", re.MULTILINE)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def _read_total(out_dir: Path, pid: int) -> int:
    """The instruction count of the last dump of ``pid`` (callgrind.out.<pid>.<n>)."""
    dumps = sorted(out_dir.glob(f"callgrind.out.{pid}.*"),
                   key=lambda p: int(p.name.rsplit(".", 1)[1]))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {pid} in {out_dir}")
    found = _TOTALS.findall(dumps[-1].read_bytes())
    if not found:
        raise RuntimeError(f"no totals in {dumps[-1]}")
    return int(found[-1])


def _under_callgrind(cmd: list[str], out_dir: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p", *cmd]


def count_instructions(targets: dict[str, tuple[list[str], dict[str, str], int, str, Target]],
                       raws: dict[str, tuple[bytes, int | None]], tmp: Path, *, requests: int,
                       concurrency: int, log: Any) -> dict[str, dict[str, float]]:
    """For each target (name → (command, env, port, ready path, load target)) and each
    request (label → raw HTTP bytes, chunks expected or None for a whole answer):
    instructions per request. One process per target,
    started under callgrind; each request kind is warmed up uninstrumented first."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise RuntimeError("valgrind (callgrind) is not installed: apt-get install valgrind")
    out: dict[str, dict[str, float]] = {}
    for name, (cmd, env, port, ready, target) in targets.items():
        out_dir = tmp / f"callgrind-{name}"
        out_dir.mkdir(exist_ok=True)
        proc = Proc(name, _under_callgrind(cmd, out_dir), env=env, cwd=tmp,
                    log=tmp / f"{name}-callgrind.log", core=None)
        log(f"instructions: {name} (starting under callgrind)")
        proc.start(port, ready, timeout=600.0)
        try:
            out[name] = {}
            for label, (raw, expect) in raws.items():
                asyncio.run(closed_loop(target, raw, expect, concurrency=concurrency,
                                        duration=600.0, requests=max(50, requests // 5)))
                _control(proc.pid, "--instr=on")
                _control(proc.pid, "--zero")
                samples = asyncio.run(closed_loop(target, raw, expect, concurrency=concurrency,
                                                  duration=600.0, requests=requests))
                _control(proc.pid, "--dump")
                _control(proc.pid, "--instr=off")
                if samples.error_count:
                    raise RuntimeError(f"{name} {label}: {dict(samples.errors)}")
                out[name][label] = _read_total(out_dir, proc.pid) / requests
                log(f"instructions: {name} {label}: {out[name][label]:,.0f} per request")
        finally:
            proc.stop()
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through scripts/bench --instructions")
