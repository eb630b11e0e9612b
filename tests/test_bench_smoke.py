"""The benchmark runs end to end (``scripts/bench --quick``): real fake upstream, real
floor and real gateway processes, every figure produced, no request failed."""

from __future__ import annotations

import json
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
    memory = doc["targets"]["proxy"]["memory"]
    assert memory["streams_open"] == memory["streams"] and memory["rss_mb_all_open"] > 10
    assert doc["exit_codes"]["proxy"] == 0, "the gateway did not shut down cleanly"
    assert "target (proxy)" in run.stdout and "holds?" in run.stdout
