"""Smoke test of the benchmark harness: its --quick path runs npylstm and the installed peers
(torch, ONNX Runtime, OpenVINO, Keras on NumPy and on JAX) on a tiny configuration and the
quick size grid, one process each, and writes valid, stamped JSON and markdown in which
every peer's output equalled npylstm's on the same weights. The judgement logic (median of
process medians, round-robin order, per-peer targets, mismatches as errors) is checked on
hand-made measurements. No timing assertions: speed lives in the benchmark, not in the test
suite."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
RUN = BENCH / "run.py"
SMOKE_FRAMEWORKS = ["npylstm-numba", "torch", "onnxruntime", "openvino", "keras-numpy",
                    "keras-jax"]


@pytest.fixture(scope="module")
def harness():
    """The harness modules (they import each other by plain name from benchmarks/)."""
    names = ("configs", "timing", "frameworks", "rounds", "report_grid", "report")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    sys.path.insert(0, str(BENCH))
    try:
        mods = {n: importlib.import_module(n) for n in names}
        yield mods
    finally:
        sys.path.remove(str(BENCH))
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--frameworks", ",".join(SMOKE_FRAMEWORKS),
         "--configs", "tiny", "--parts", "timing,grid", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    return proc, out


def test_quick_run_writes_valid_results(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True and results["processes"] == 1
    assert results["machine"]["cores"] >= 1 and results["machine"]["cpu_model"]
    assert "numba" in results["versions"]["npylstm-numba"]
    assert results["errors"] == {}
    # every requested framework either ran or is listed as skipped with a reason
    for framework in SMOKE_FRAMEWORKS:
        assert framework in results["timing"] or results["skipped"].get(framework)
    assert "npylstm-numba" in results["timing"]
    # one round, its load averages recorded
    (round_,) = results["rounds"]
    assert round_["order"][0] == SMOKE_FRAMEWORKS[0]
    assert isinstance(round_["load_1min_before"], float | int)
    assert isinstance(round_["load_1min_after"], float | int)
    steal = round_["steal_fraction"]  # None off Linux
    assert steal is None or 0 <= steal <= 1
    tiny = results["timing"]["npylstm-numba"]["configs"]["tiny"]
    for kind in ("infer", "train"):
        assert tiny[kind]["median_s"] > 0 and tiny[kind]["processes"] == 1
        assert tiny[kind]["process_medians_s"] == [tiny[kind]["median_s"]]
    assert [(r["config"], r["kind"]) for r in results["rows"]] == [
        ("tiny", "infer"), ("tiny", "train")
    ]
    # one process: no target verdict, and the reason is given
    assert all(r["target_met"] is None for r in results["rows"] + results["grid_rows"])
    grid = results["grid_configs"]
    assert grid == ["grid-lstm-b2-u4-quick", "grid-gru-b2-u4-quick"]
    assert {(r["config"], r["kind"]) for r in results["grid_rows"]} == {
        (g, k) for g in grid for k in ("infer", "train")}
    md = (out / "results.md").read_text()
    assert "| tiny | inference |" in md and "## Size grid (acceptance table)" in md
    assert "load (1 min)" in md
    assert (out / "grid.png").stat().st_size > 0


def test_every_peer_output_equalled_npylstm(quick_run, harness):
    proc, out = quick_run
    results = json.loads((out / "results.json").read_text())
    atol = harness["frameworks"].CHECK_ATOL
    assert atol == 1e-5
    peers = 0
    for part in ("timing", "grid_timing"):
        for framework, data in results[part].items():
            for name, entry in data["configs"].items():
                check = entry["check"]
                assert check["ok"], (framework, name, check)
                if framework != "npylstm-numba":
                    peers += 1
                    assert 0 <= check["max_abs_diff"] <= atol, (framework, name, check)
                inference_only = framework in harness["frameworks"].INFERENCE_ONLY
                assert ("train" in entry) is (not inference_only), (framework, name)
    assert peers >= 3  # torch and ONNX Runtime at least, on tiny and the grid


def test_unknown_configuration_is_rejected(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--configs", "huge-9000", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown configuration(s) ['huge-9000']" in proc.stderr


def test_bad_process_count_is_rejected(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RUN), "--processes", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "--processes: expected an integer >= 1, received 0" in proc.stderr


def test_steal_fraction_from_two_proc_stat_lines(harness):
    rounds = harness["rounds"]
    # user nice system idle iowait irq softirq steal guest guest_nice (in clock ticks)
    before = rounds._cpu_times("cpu  100 0 50 800 10 0 5 35 7 0\n")
    after = rounds._cpu_times("cpu  160 0 70 900 10 0 5 85 9 0\n")
    assert before == [100, 0, 50, 800, 10, 0, 5, 35, 7, 0]
    # deltas: 60 + 20 + 100 + 50 (steal) = 230 ticks; guest (inside user) left out
    assert rounds.steal_fraction(before, after) == round(50 / 230, 3)
    assert rounds.steal_fraction(before, before) is None  # no time between the readings
    assert rounds.steal_fraction(None, after) is None
    assert rounds._cpu_times("intr 1 2 3\n") is None  # not the cpu line
    assert rounds._cpu_times("cpu 1 2 3\n") is None  # too old a kernel: no steal counter


def _process(medians: dict[str, float], check: dict | None = None) -> dict:
    entry = {"check": check or {"ok": True, "max_abs_diff": 1e-8},
             "load_1min_before": 1.0, "load_1min_after": 1.5}
    for kind, t in medians.items():
        entry[kind] = {"median_s": t, "repeats": 10}
    return {"configs": {"sine-20x2": entry}}


def test_rounds_rotate_and_figure_is_median_of_process_medians(harness):
    rounds = harness["rounds"]
    calls = []
    medians = {"npylstm-numba": iter([3.0, 1.0, 2.0]), "torch": iter([5.0, 9.0, 4.0])}

    def worker(framework, names):
        calls.append(framework)
        if framework == "openvino":
            return {"skipped": "ModuleNotFoundError: No module named 'openvino'"}
        return _process({"infer": next(medians[framework])})

    results = {"rounds": [], "skipped": {}, "errors": {}, "versions": {}}
    raw = rounds.timed_rounds("timing", ["npylstm-numba", "torch", "openvino"],
                              lambda f: ["sine-20x2"], worker, 3, results)
    # round-robin: each round starts one framework later; a skipped one is not restarted
    assert calls == ["npylstm-numba", "torch", "openvino", "torch", "npylstm-numba",
                     "npylstm-numba", "torch"]
    assert [r["order"] for r in results["rounds"]] == [
        ["npylstm-numba", "torch", "openvino"], ["torch", "npylstm-numba"],
        ["npylstm-numba", "torch"]]
    assert results["skipped"] == {"openvino": "ModuleNotFoundError: No module named 'openvino'"}
    agg = rounds.aggregate(raw, results)
    ours = agg["npylstm-numba"]["configs"]["sine-20x2"]["infer"]
    assert (ours["median_s"], ours["process_min_s"], ours["process_max_s"]) == (2.0, 1.0, 3.0)
    assert agg["torch"]["configs"]["sine-20x2"]["infer"]["median_s"] == 5.0


def test_output_mismatch_is_an_error(harness):
    results = {"rounds": [], "skipped": {}, "errors": {}, "versions": {}}
    bad = _process({}, {"ok": False, "max_abs_diff": 0.5})
    bad["configs"]["sine-20x2"]["error"] = "RuntimeError: output differs"
    agg = harness["rounds"].aggregate({"torch": [bad]}, results)
    assert results["errors"] == {"torch sine-20x2": "RuntimeError: output differs"}
    assert "infer" not in agg["torch"]["configs"]["sine-20x2"]


def _timing(times: dict[str, float], processes: int = 3) -> dict:
    return {f: {"configs": {"sine-20x2": {"infer": {
        "median_s": t, "process_min_s": t, "process_max_s": t, "processes": processes}}}}
        for f, t in times.items()}


@pytest.mark.parametrize(("ort", "torch", "met"), [
    (1.5, 2.0, True),     # exactly the bounds: 1.5x ONNX Runtime, 2x every other peer
    (1.4, 2.0, False),    # ONNX Runtime only 1.4x slower
    (1.5, 1.9, False),    # torch only 1.9x slower
])
def test_seed_inference_target_per_peer(harness, ort, torch, met):
    report = harness["report"]
    timing = _timing({"npylstm-numba": 1.0, "onnxruntime": ort, "torch": torch})
    row = report.make_row({}, timing, ["npylstm-numba", "torch", "onnxruntime"], "sine-20x2",
                          "infer", report.TARGETS["sine-20x2"]["infer"])
    assert row["fastest_peer"] == "onnxruntime"
    assert row["speedup_vs_fastest_peer"] == pytest.approx(ort)
    assert row["target_met"] is met


def test_target_needs_three_processes_and_strict_bound(harness):
    report = harness["report"]
    timing = _timing({"npylstm-numba": 1.0, "onnxruntime": 3.0}, processes=2)
    row = report.make_row({}, timing, ["npylstm-numba", "onnxruntime"], "sine-20x2", "infer",
                          {"all": 1.0})
    assert row["target_met"] is None and "2 process(es) < 3" in row["target_note"]
    # stream-1: *lower* latency than ONNX Runtime, so an equal time is not met
    timing = _timing({"npylstm-numba": 1.0, "onnxruntime": 1.0, "torch": 9.0})
    row = report.make_row({}, timing, ["npylstm-numba", "torch", "onnxruntime"], "sine-20x2",
                          "infer", report.TARGETS["stream-1"]["infer"])
    assert row["target_met"] is False


def test_coldstart_verdicts(harness):
    verdicts = harness["rounds"].coldstart_verdicts
    model = {"first_predict_s": 2.5, "first_train_step_s": 6.5}
    full = verdicts(model, {"seconds": 19.0}, quick=False)
    assert [full[k]["met"] for k in ("first_predict_s", "first_train_step_s", "demo_s")] == [
        True, False, True]
    assert full["demo_s"]["target_s"] == 20.0
    assert verdicts(model, {"seconds": 19.0, "error": "exit 1"}, quick=False)["demo_s"][
        "met"] is None
    assert all(v["met"] is None for v in verdicts(model, {"seconds": 1.0}, quick=True).values())
