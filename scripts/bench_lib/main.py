"""``scripts/bench``: the gateway against the same fake upstream, direct, through a bare
aiohttp pass-through (the floor) and through openai-proxy, in one run.

Layout on a machine with two or more CPUs: the fake upstream, this load generator and
py-spy share the first core; the floor and the proxy (one process each, one worker) are
pinned to the second. Everything listens on 127.0.0.1 and stops by itself.

Comparison phases (only when named in --phases, or with --all), each starting the proxy
several ways against the same upstream: audit (AUDIT_ENABLED true vs false, and no audit
record lost), limits (rate limits off vs in-process vs Redis, plus
scripts/bench_ratelimit.py), workers (serve --workers 1 vs 2, not pinned).

Exit code: 0, or 1 when any request failed, any SSE event was malformed or any audit
record was lost (``--strict``: also when a target does not hold), 2 when a process could
not start.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
import uvloop

from .compare import EXTRA_PHASES, Extras, count_errors
from .loads import Target
from .phases import PHASES, QUICK, Bench, Plan
from .procs import Proc, cores, get, seed_gateway
from .report import check_targets, render
from .report_compare import render_compare
from .summary import render_summary, summary_rows
from .variants import Gateway, all_cpus

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-proxy-bench-client-key-0123456789"
UPSTREAM_KEY = "sk-upstream-bench-0123456789"
ADMIN_KEY = "sk-admin-bench-0123456789abcdef"
SECRET_KEY = "bench-secret-key-for-hmac-0123456789"
ENCRYPTION_KEY = base64.urlsafe_b64encode(b"openai-proxy-bench-fernet-key-32").decode()
HIGH_RPM = "1000000000"
DEFAULT_PROXY_CMD = "{python} -m proxy serve --host 127.0.0.1 --port {port}"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small counts (CI smoke, ~15 s)")
    p.add_argument("--json", default="bench-results.json", help="where to write the results")
    p.add_argument("--phases", default=",".join(PHASES),
                   help=f"comma-separated subset of {','.join(PHASES + EXTRA_PHASES)} "
                        f"(default: {','.join(PHASES)})")
    p.add_argument("--all", action="store_true", help="every phase (about 4 minutes)")
    p.add_argument("--targets", default="direct,floor,proxy",
                   help="comma-separated subset of direct,floor,proxy")
    p.add_argument("--proxy-cmd", default=DEFAULT_PROXY_CMD,
                   help="command starting the gateway; {python} and {port} are substituted")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                   help="Redis for the limits phase (a database of its own; skipped with a "
                        "note when unreachable)")
    p.add_argument("--profile", metavar="DIR",
                   help="also run py-spy on the proxy under closed-loop and streaming load")
    p.add_argument("--native", action="store_true", help="py-spy --native")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target does not hold")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--instructions", type=int, metavar="N", default=0,
                   help="instead of timing: N requests (whole chat, then streamed chat) to "
                        "each of --targets floor,proxy under callgrind, and the instructions "
                        "per request (repeatable on a busy machine; for A/B work)")
    return p


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import aiohttp

    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "uvloop": uvloop.__version__}


def _proxy_env(data: Path) -> dict[str, str]:
    """The gateway's environment, its store and secrets under ``data``."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'proxy.db'}",
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEY": ENCRYPTION_KEY,
        "ADMIN_API_KEY": ADMIN_KEY,
        "RATE_LIMIT_GLOBAL_RPM": HIGH_RPM,
        "RATE_LIMIT_PER_KEY_RPM": HIGH_RPM,
        "RATE_LIMIT_PER_TENANT_RPM": HIGH_RPM,
        "RATE_LIMIT_PER_IP_RPM": HIGH_RPM,
        "SHUTDOWN_TIMEOUT": "5",
    }


def _metrics_of(port: int) -> dict[str, float]:
    """A few counters from the proxy's /metrics (audit drops, rate-limited, requests)."""
    wanted = ("proxy_audit_dropped_total", "proxy_rate_limited_total", "proxy_requests_total")
    out: dict[str, float] = {}
    try:
        status, body = get(port, "/metrics", timeout=5.0)
    except OSError:
        return out
    if status != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            try:
                out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            except ValueError:
                continue
    return out


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _floor_cmd(port: int, upstream_base: str) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "bench_floor.py"), "--port", str(port),
            "--upstream", upstream_base]


def _seeded_proxy(plan: Plan, tmp: Path, upstream_base: str, proxy_cmd: str, port: int,
                  max_concurrency: int) -> tuple[list[str], dict[str, str]]:
    """The gateway's command and environment, its store under ``tmp/data`` seeded."""
    env = _proxy_env(tmp / "data")
    (tmp / "data").mkdir()
    asyncio.run(seed_gateway(
        env["DATABASE_URL"], ENCRYPTION_KEY, SECRET_KEY, upstream_base=upstream_base,
        upstream_key=UPSTREAM_KEY, client_key=CLIENT_KEY, models=plan.models(),
        max_concurrency=max_concurrency))
    return shlex.split(proxy_cmd.format(python=shlex.quote(sys.executable), port=port)), env


def _start(plan: Plan, names: list[str], tmp: Path, proxy_cmd: str, procs: list[Proc],
           core_load: int | None, core_mid: int | None,
           ) -> tuple[dict[str, Target], dict[str, int], int, int]:
    """Start the upstream, the floor and the proxy (each appended to ``procs`` before it
    starts, so the caller stops whatever did start). Returns the targets, the pids of the
    processes in the middle, the upstream's pid and port."""
    up_port = _free_port()
    upstream = Proc("upstream", [sys.executable, "-m", "scripts.bench_lib.upstream",
                                 "--port", str(up_port)],
                    env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO,
                    log=tmp / "upstream.log", core=core_load)
    procs.append(upstream)
    upstream.start(up_port, "/health")
    base = f"http://127.0.0.1:{up_port}/v1"
    targets: dict[str, Target] = {}
    if not names:
        return targets, {}, upstream.pid, up_port
    if "direct" in names:
        targets["direct"] = Target("direct", "127.0.0.1", up_port, token=UPSTREAM_KEY)
    mid_pids: dict[str, int] = {}
    if "floor" in names:
        port = _free_port()
        floor = Proc("floor", _floor_cmd(port, base), env=dict(os.environ), cwd=REPO,
                     log=tmp / "floor.log", core=core_mid)
        procs.append(floor)
        floor.start(port, "/health")
        targets["floor"] = Target("floor", "127.0.0.1", port, token=UPSTREAM_KEY)
        mid_pids["floor"] = floor.pid
    if "proxy" in names:
        port = _free_port()
        cmd, env = _seeded_proxy(plan, tmp, base, proxy_cmd, port,
                                 max(plan.hold_streams, plan.stream_concurrency) + 100)
        proxy = Proc("proxy", cmd, env=env, cwd=tmp, log=tmp / "proxy.log", core=core_mid)
        procs.append(proxy)
        proxy.start(port, "/readyz")
        targets["proxy"] = Target("proxy", "127.0.0.1", port, token=CLIENT_KEY)
        mid_pids["proxy"] = proxy.pid
    return targets, mid_pids, upstream.pid, up_port


def _gateway(plan: Plan, tmp: Path, proxy_cmd: str, upstream_port: int, core_mid: int | None,
             cpus: str | None) -> Gateway:
    return Gateway(tmp=tmp, proxy_cmd=proxy_cmd, env_for=_proxy_env,
                   upstream_base=f"http://127.0.0.1:{upstream_port}/v1",
                   upstream_key=UPSTREAM_KEY, client_key=CLIENT_KEY,
                   encryption_key=ENCRYPTION_KEY, secret_key=SECRET_KEY,
                   models=tuple(plan.models()),
                   max_concurrency=max(plan.hold_streams, plan.stream_concurrency) + 100,
                   core_mid=core_mid, all_cpus=cpus)


def _extras(plan: Plan, phases: tuple[str, ...], gateway: Gateway, upstream_pid: int,
            procs: list[Proc], redis_url: str) -> dict[str, Any]:
    extras = Extras(gateway, plan, upstream_pid, procs, _log, redis_url)
    out: dict[str, Any] = {}
    for phase in phases:
        try:
            out[phase] = extras.run(phase)
        except (RuntimeError, OSError, ValueError) as exc:
            _log(f"{phase}: FAILED: {exc}")
            out[phase] = {"failed": str(exc)[:3000]}
    return out


def _instructions(args: argparse.Namespace) -> int:
    """``--instructions N``: callgrind's count per request, floor and proxy (see
    ``instructions.py``)."""
    from .client import build_request
    from .instructions import count_instructions
    from .phases import _body

    plan = Plan()
    names = [n for n in ("floor", "proxy") if n in args.targets.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="openai-proxy-bench-"))
    procs: list[Proc] = []
    try:
        _, _, _, up_port = _start(plan, [], tmp, args.proxy_cmd, procs, None, None)
        base = f"http://127.0.0.1:{up_port}/v1"
        targets: dict[str, Any] = {}
        if "floor" in names:
            port = _free_port()
            targets["floor"] = (_floor_cmd(port, base), dict(os.environ), port, "/health",
                                Target("floor", "127.0.0.1", port, token=UPSTREAM_KEY))
        if "proxy" in names:
            port = _free_port()
            cmd, env = _seeded_proxy(plan, tmp, base, args.proxy_cmd, port, 100)
            while cmd and "=" in cmd[0] and not cmd[0].startswith("-"):  # NAME=value ...
                name, _, value = cmd.pop(0).partition("=")
                env[name] = value
            targets["proxy"] = (cmd, env, port, "/readyz",
                                Target("proxy", "127.0.0.1", port, token=CLIENT_KEY))
        raws = {kind: {name: (build_request("127.0.0.1", t[2], "/v1/chat/completions",
                                            _body(model, stream), t[4].token), expect)
                       for name, t in targets.items()}
                for kind, model, stream, expect in (
                    ("chat, whole", plan.unary_model, False, None),
                    ("chat, streamed (per stream)", plan.stream_model, True, plan.stream_chunks))}
        counts: dict[str, dict[str, float]] = {}
        for name, target in targets.items():
            counts.update(count_instructions(
                {name: target}, {kind: raw[name] for kind, raw in raws.items()}, tmp,
                requests=args.instructions, concurrency=8, log=_log))
    finally:
        for proc in reversed(procs):
            proc.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'instructions per request':<28}" + "".join(f"{n:>14}" for n in counts)
          + ("   proxy/floor" if len(counts) == 2 else ""))
    for kind in raws:
        row = [counts[n][kind] for n in counts]
        ratio = f"{row[1] / row[0]:13.2f}x" if len(row) == 2 else ""
        print(f"{kind:<28}" + "".join(f"{v:>14,.0f}" for v in row) + ratio)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.instructions:
        return _instructions(args)
    phases = PHASES + EXTRA_PHASES if args.all else tuple(p for p in args.phases.split(",") if p)
    names = [n for n in ("direct", "floor", "proxy") if n in args.targets.split(",")]
    if any(p not in PHASES + EXTRA_PHASES for p in phases) or not phases or not names:
        print(f"--phases must name some of {PHASES + EXTRA_PHASES}; "
              "--targets some of direct,floor,proxy", file=sys.stderr)
        return 2
    base = tuple(p for p in phases if p in PHASES)
    extra = tuple(p for p in phases if p in EXTRA_PHASES)
    if not base:
        names = []  # only the comparison phases: they start their own proxies
    plan: Plan = QUICK if args.quick else Plan()
    cpus = all_cpus() if shutil.which("taskset") else None
    core_load, core_mid = cores()
    if core_load is not None:
        os.sched_setaffinity(0, {core_load})
    tmp = Path(tempfile.mkdtemp(prefix="openai-proxy-bench-"))
    procs: list[Proc] = []
    started = time.monotonic()
    try:
        try:
            targets, mid_pids, upstream_pid, up_port = _start(
                plan, names, tmp, args.proxy_cmd, procs, core_load, core_mid)
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"bench: could not start: {exc}", file=sys.stderr)
            return 2
        bench = Bench(plan, targets, mid_pids, upstream_pid)
        results = uvloop.run(bench.run(base, _log)) if base else {}
        profile: dict[str, Any] | None = None
        if args.profile and "proxy" in mid_pids:
            from .profile import profile_target, render_hotspots

            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profile = uvloop.run(profile_target(bench, "proxy", Path(args.profile),
                                                native=args.native, core=core_load, log=_log))
            (Path(args.profile) / "hotspots.txt").write_text(render_hotspots(profile))
        proxy_metrics = _metrics_of(targets["proxy"].port) if "proxy" in targets else {}
        gateway = _gateway(plan, tmp, args.proxy_cmd, up_port, core_mid, cpus)
        compare = _extras(plan, extra, gateway, upstream_pid, procs, args.redis_url)
    finally:
        exits = {p.name: p.stop() for p in reversed(procs)}
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    checks = check_targets(results)
    summary = summary_rows(results, compare)
    x_errors, x_malformed = count_errors(compare)
    errors = sum(r["errors"] for r in results.values()) + x_errors
    malformed = sum(r["malformed"] for r in results.values()) + x_malformed
    doc = {
        "command": shlex.join(["scripts/bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {**_machine(), "pinning": {"upstream_and_loadgen": core_load,
                                              "floor_and_proxy": core_mid}},
        "plan": asdict(plan), "phases": list(phases), "targets": results, "checks": checks,
        "figures": {c["figure"]: c["proxy"] for c in checks},
        "floor_figures": {c["figure"]: c["floor"] for c in checks},
        "proxy_metrics": proxy_metrics, "exit_codes": exits, "errors": errors,
        "malformed": malformed, "seconds": round(time.monotonic() - started, 1),
        "profile": profile, "compare": compare, "summary": summary,
    }
    Path(args.json).write_text(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    if results:
        print(render(results, checks))
    if compare:
        print(("\n" if results else "") + render_compare(compare))
    if summary:
        print("\nEvery ingress and feature, same run (× chat: the chat figure measured "
              "beside it; × floor: the floor's whole request or chunk):\n"
              + render_summary(summary))
    print(f"\n{errors} errors, {malformed} malformed SSE events, {doc['seconds']} s; "
          f"JSON: {args.json}" + (f"; temp dir kept: {tmp}" if args.keep else ""))
    for name, res in results.items():
        kinds: dict[str, int] = {}
        for phase in res.values():
            if isinstance(phase, dict):
                for sub in (phase, *[v for v in phase.values() if isinstance(v, dict)]):
                    for kind, n in sub.get("error_kinds", {}).items():
                        kinds[kind] = kinds.get(kind, 0) + n
        if kinds:
            print(f"  {name} errors: {kinds}", file=sys.stderr)
    if errors or malformed:
        return 1
    if args.strict and any(c["holds"] is False for c in [*checks, *summary]):
        return 1
    return 0
