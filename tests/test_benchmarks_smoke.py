"""Smoke test of the benchmark harness: its --quick path runs for npylstm on a tiny
configuration and writes valid, stamped JSON and markdown. No timing assertions: speed
lives in the benchmark, not in the test suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def test_quick_run_writes_valid_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--frameworks", "npylstm-numba",
         "--configs", "tiny", "--parts", "timing", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu_model"]
    assert "numba" in results["versions"]["npylstm-numba"]
    assert results["errors"] == {}
    tiny = results["timing"]["npylstm-numba"]["configs"]["tiny"]
    for kind in ("infer", "train"):
        assert tiny[kind]["median_s"] > 0
        assert tiny[kind]["repeats"] >= 3
    assert [(r["config"], r["kind"]) for r in results["rows"]] == [
        ("tiny", "infer"), ("tiny", "train")
    ]
    # no peer ran, so there is no ratio and no verdict rather than an invented one
    assert all(r["speedup_vs_fastest_peer"] is None for r in results["rows"])
    assert "| tiny | inference |" in (tmp_path / "results.md").read_text()


def test_unknown_configuration_is_rejected(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--configs", "huge-9000", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown configuration(s) ['huge-9000']" in proc.stderr
