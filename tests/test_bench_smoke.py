"""The benchmark runs end to end (``scripts/bench --quick``): real fake upstream, real
floor and real gateway processes, every figure produced, no request failed; and the
comparison phases (audit, limits, workers) in quick form."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(90)

FIGURES = ("cpu_ms_per_request", "closed_rps", "added_p50_ms_at_50", "added_p99_ms_at_50",
           "cpu_us_per_chunk", "chunks_per_s", "rss_mb_open_streams")


def test_quick_bench_produces_every_figure_with_zero_errors(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--quick", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=80,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == 0 and doc["malformed"] == 0
    for name in ("figures", "floor_figures"):
        missing = [f for f in FIGURES if not isinstance(doc[name].get(f), int | float)]
        assert not missing, f"{name} lacks {missing}"
    assert doc["figures"]["closed_rps"] > 0 and doc["figures"]["chunks_per_s"] > 0
    for target in ("direct", "floor", "proxy"):
        result = doc["targets"][target]
        assert result["closed"]["ok"] > 0 and result["stream"]["chunks"] > 0
        assert set(result["open"]) == {"10", "50", "200"}
        assert result["errors"] == 0 and result["malformed"] == 0
    responses = doc["targets"]["proxy"]["responses"]
    assert set(responses) == {"chat", "responses_store", "responses_no_store", "chat_stream",
                              "responses_stream_store", "responses_stream_no_store"}
    for run_name, run_result in responses.items():
        assert run_result["ok"] > 0 and run_result["errors"] == 0, run_name
        assert isinstance(run_result["cpu_ms_per_request"], float), run_name
    messages = doc["targets"]["proxy"]["messages"]
    for case in ("chat", "messages_translated", "messages_native"):
        for kind in ("unary", "stream"):
            row = messages[f"{case}_{kind}"]
            assert row["ok"] > 0 and row["errors"] == 0, (case, kind, row)
            assert isinstance(row["cpu_ms_per_request"], float)
    cache = doc["targets"]["proxy"]["cache"]
    for run_name in ("off", "miss", "hit", "stream_off", "stream_hit"):
        assert cache[run_name]["ok"] > 0 and cache[run_name]["errors"] == 0, run_name
        assert isinstance(cache[run_name]["cpu_ms_per_request"], float), run_name
    assert isinstance(cache["miss_added_cpu_ms"], float)
    memory = doc["targets"]["proxy"]["memory"]
    assert memory["streams_open"] == memory["streams"] and memory["rss_mb_all_open"] > 10
    assert doc["exit_codes"]["proxy"] == 0, "the gateway did not shut down cleanly"
    assert "target (proxy)" in run.stdout and "holds?" in run.stdout


def _redis_listening() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1.0):
            return True
    except OSError:
        return False


def test_quick_comparison_phases_measure_every_variant_and_lose_no_audit_record(
        tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--quick",
         "--phases", "audit,limits,workers", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=80,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == 0 and doc["malformed"] == 0 and doc["targets"] == {}
    compare = doc["compare"]

    audit = compare["audit"]
    records = audit["records"]
    assert records["sent"] == audit["variants"]["audit_on"]["sent"] > 0
    assert records["written"] == records["sent"] and records["none_lost"]
    assert records["written_with_audit_off"] == 0
    for name in ("audit_on", "audit_off"):
        variant = audit["variants"][name]
        assert variant["closed"]["ok"] > 0 and variant["open"]["ok"] > 0
        assert variant["closed"]["cpu_ms_per_request"] > 0
    assert isinstance(audit["ratio_on_off"]["open_p99"], float)

    limits = compare["limits"]
    expected = {"limits_off", "limits_memory"} | ({"limits_redis"} if _redis_listening() else set())
    assert set(limits["variants"]) == expected
    assert set(limits["added_over_off"]) == expected - {"limits_off"}
    if _redis_listening():
        assert limits["redis_skipped"] is None and limits["redis_keys_found"] == 5
        assert any(r["operation"] == "redis acquire" for r in limits["limiter_alone"])
    else:
        assert "not reachable" in limits["redis_skipped"]
    assert limits["limiter_alone"][0]["operation"] == "memory acquire"

    workers = compare["workers"]
    assert {n: v["closed"]["ok"] > 0 for n, v in workers["variants"].items()} == {
        "workers_1": True, "workers_2": True}
    assert workers["rps_ratio_2_over_1"] > 0 and "understates" in workers["note"]
    assert all(code == 0 for code in doc["exit_codes"].values()), doc["exit_codes"]
    for heading in ("== audit", "== limits", "== workers", "none lost"):
        assert heading in run.stdout


def test_quick_features_phase_and_the_one_summary_table(tmp_path: Path) -> None:
    """Tracing at 100 % (exported to the bench's own OTLP sink) beside a gateway without
    it, budgets beside no budget, and the summary table that puts every ingress and
    feature beside chat and the floor."""
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--quick", "--targets",
         "floor,proxy", "--phases", "closed,stream,budgets,features", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=80,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    doc = json.loads(out.read_text())
    assert doc["errors"] == 0 and doc["malformed"] == 0
    features = doc["compare"]["features"]
    assert set(features["variants"]) == {"plain", "tracing"}
    for name, variant in features["variants"].items():
        assert variant["closed"]["ok"] > 0 and variant["errors"] == 0, name
    assert features["otlp_exports"] > 0 and features["problem"] is None
    assert all(r > 0 for r in features["cpu_ratio_to_plain"].values())
    cases = {row["case"]: row for row in doc["summary"]}
    chat = cases["chat completions, whole"]
    assert chat["x_floor"] > 0 and chat["target"] == "≤ 1.4× floor"
    assert isinstance(chat["holds"], bool)
    assert cases["chat completions, streamed, per chunk"]["x_floor"] > 0
    budget = next(r for c, r in cases.items() if c.startswith("budget-checked key (reserve"))
    assert budget["x_chat"] > 0 and isinstance(budget["holds"], bool)
    assert any(c.startswith("tracing on, 100 %") for c in cases)
    assert "| chat completions, whole |" in run.stdout and "== features" in run.stdout


@pytest.mark.timeout(240)
def test_instruction_counts_are_produced(tmp_path: Path) -> None:
    """``scripts/bench --instructions``: the floor under callgrind, a count per request."""
    import os
    import shutil

    if shutil.which("valgrind") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("valgrind is not installed (.ci/run installs it)")
        pytest.skip("valgrind is not installed")
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench"), "--instructions", "30",
         "--targets", "floor"],
        cwd=tmp_path, capture_output=True, text=True, timeout=230,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-4000:]}"
    rows = {line[:28].strip(): line[28:].split() for line in run.stdout.splitlines()[1:]}
    for kind in ("chat, whole", "chat, streamed (per stream)"):
        count = int(rows[kind][0].replace(",", ""))
        assert 50_000 < count < 50_000_000, (kind, count)
