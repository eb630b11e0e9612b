"""Where the time goes: py-spy attached to the process in the middle during an extra
closed-loop pass and an extra streaming pass (not counted in the measured figures), and
the collapsed stacks ranked by self and total time."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .phases import Bench

__all__ = ["analyze", "profile_target", "render_hotspots"]

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")
_SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def _norm(frame: str) -> tuple[str, str]:
    """'handle (/x/site-packages/aiohttp/web_protocol.py:123)' → ('handle (aiohttp/web_protocol.py)', file)."""
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip(), frame.strip()
    path = _SITE.sub("", m.group("file"))
    path = re.sub(r"^.*/(proxy|supervisors|scripts)/", r"\1/", path)
    return f"{m.group('func')} ({path})", path


def analyze(raw: Path, top: int = 20) -> dict[str, Any]:
    """Rank py-spy ``--format raw`` output of the event-loop (main) thread: self time (leaf
    frame), total time (frame anywhere on the stack) and self time per file, as percentages
    of the main thread's samples. Other threads (aiosqlite, the default executor) are
    reported apart by leaf line: py-spy counts their blocking ``queue.get`` as active."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    files: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        raw_frames = [f for f in stack.split(";") if f]
        if not raw_frames:
            continue
        if any(f.startswith("Thread._bootstrap ") for f in raw_frames):
            threads[_SITE.sub("", raw_frames[-1])] += n
            continue
        samples += n
        frames = [_norm(f) for f in raw_frames]
        leaf, leaf_file = frames[-1]
        own[leaf] += n
        files[leaf_file] += n
        for name in {f for f, _ in frames}:
            total[name] += n

    def ranked(counter: Counter[str], base: int) -> list[tuple[str, float]]:
        return [(k, round(100.0 * v / base, 2)) for k, v in counter.most_common(top)]

    if not samples:
        return {"samples": 0, "self": [], "total": [], "files": [], "other_threads": []}
    return {"samples": samples, "self": ranked(own, samples), "total": ranked(total, samples),
            "files": ranked(files, samples),
            "other_threads": ranked(threads, samples)}  # % of main-thread samples


async def _spy(pid: int, seconds: int, out: Path, native: bool, core: int | None) -> int:
    cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
           "--format", "raw", "--output", str(out)]
    if native:
        cmd.append("--native")
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode:
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {err.decode()[-500:]}")
    return proc.returncode or 0


async def profile_target(bench: Bench, name: str, out_dir: Path, *, native: bool,
                         core: int | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Profile ``name`` (floor or proxy) under the closed-loop and the streaming load."""
    if shutil.which("py-spy") is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    pid = bench.mid_pids[name]
    report: dict[str, Any] = {}
    for phase, seconds in (("closed", bench.plan.closed_seconds),
                           ("stream", bench.plan.stream_seconds)):
        spy_seconds = max(1, int(seconds))
        out = out_dir / f"{name}-{phase}.txt"
        log(f"profile: {name} {phase} ({spy_seconds} s of py-spy)")
        original = bench.plan
        bench.plan = _longer(original, phase, spy_seconds + 1.5)
        try:
            async with asyncio.TaskGroup() as tg:
                load = tg.create_task(getattr(bench, phase)(name))
                await asyncio.sleep(0.5)
                await _spy(pid, spy_seconds, out, native, core)
        finally:
            bench.plan = original
        report[phase] = {"load": load.result(), "raw": str(out), **analyze(out)}
    return report


def _longer(plan: Any, phase: str, seconds: float) -> Any:
    from dataclasses import replace

    field = "closed_seconds" if phase == "closed" else "stream_seconds"
    return replace(plan, **{field: seconds})


def render_hotspots(report: dict[str, Any], top: int = 15) -> str:
    lines: list[str] = []
    for phase, data in report.items():
        lines.append(f"### {phase}: {data['samples']} samples of the event-loop thread")
        for title, key in (("self", "self"), ("total", "total"), ("self by file", "files"),
                           ("other threads, by leaf line", "other_threads")):
            lines.append(f"\n{title}:")
            lines.extend(f"  {share:6.2f}%  {frame}" for frame, share in data[key][:top])
        lines.append("")
    return "\n".join(lines)
