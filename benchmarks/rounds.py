"""Noise-robust timing: fresh processes, interleaved round-robin, median of process medians;
and the cold-start report.

One *round* starts one worker process per framework, in round-robin order (round ``r``
starts at framework ``r mod n``, so no framework always runs first or last); the 1-minute
load average (``os.getloadavg()``) is recorded before and after each round, and on Linux
the share of CPU time the hypervisor stole from this VM during it (``steal`` in
``/proc/stat``: a busy host slows every framework without raising the guest's load). After
``processes`` rounds, :func:`aggregate` reduces each framework's per-process medians of a
configuration to one figure — their median — with the min and max shown next to it. A
framework whose worker is skipped (not installed) or fails is not started again.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from configs import CONFIGS, flops

__all__ = ["timed_rounds", "aggregate", "coldstart", "coldstart_verdicts", "COLDSTART_TARGETS",
           "steal_fraction"]

#: Cold start (issue 15, item 6): seconds, empty Numba cache.
COLDSTART_TARGETS = {"first_predict_s": 3.0, "first_train_step_s": 6.0, "demo_s": 20.0}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _cpu_times(stat_text: str | None = None) -> list[int] | None:
    """The machine-wide CPU time counters of ``/proc/stat``'s first line (user, nice,
    system, idle, iowait, irq, softirq, steal, ...), None where there is no such file."""
    if stat_text is None:
        try:
            with open("/proc/stat") as f:
                stat_text = f.readline()
        except OSError:
            return None
    fields = stat_text.split()
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    return [int(v) for v in fields[1:]]


def steal_fraction(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of all CPU time between two :func:`_cpu_times` readings that was stolen
    (the 8th counter, ``steal``); None without both readings or with no time between. The
    ``guest`` counters after ``steal`` are already inside ``user`` and are left out."""
    if before is None or after is None:
        return None
    deltas = [a - b for a, b in zip(after[:8], before[:8], strict=True)]
    total = sum(deltas)
    if total <= 0:
        return None
    return round(deltas[7] / total, 3)


def timed_rounds(part: str, frameworks: list[str], configs_for: Callable[[str], list[str]],
                 worker: Callable[[str, list[str]], dict], processes: int,
                 results: dict) -> dict[str, list[dict]]:
    """Run ``processes`` rounds; returns ``{framework: [worker result per process]}``.

    Skips and process-level errors go to ``results["skipped"]`` / ``results["errors"]``;
    each round's order and load averages go to ``results["rounds"]``."""
    raw: dict[str, list[dict]] = {f: [] for f in frameworks}
    dropped: set[str] = set()
    n = len(frameworks)
    for r in range(processes):
        order = [frameworks[(r + i) % n] for i in range(n)] if n else []
        order = [f for f in order if f not in dropped]
        entry = {"part": part, "round": r + 1, "order": order, "load_1min_before": _load()}
        cpu_before = _cpu_times()
        started = time.perf_counter()
        for framework in order:
            result = worker(framework, configs_for(framework))
            if "versions" in result:
                results["versions"][framework] = result["versions"]
            if "skipped" in result:
                results["skipped"][framework] = result["skipped"]
                dropped.add(framework)
            elif "error" in result:
                results["errors"][f"{part} {framework}"] = result["error"]
                dropped.add(framework)
            else:
                raw[framework].append(result)
        entry["load_1min_after"] = _load()
        entry["steal_fraction"] = steal_fraction(cpu_before, _cpu_times())
        entry["seconds"] = round(time.perf_counter() - started, 1)
        results["rounds"].append(entry)
    return {f: v for f, v in raw.items() if v}


def aggregate(raw: dict[str, list[dict]], results: dict) -> dict[str, dict]:
    """``{framework: {"configs": {name: entry}}}`` with each kind's figure = the median of
    the process medians (``median_s``), ``process_min_s`` / ``process_max_s``, every process
    median, the output check (largest difference over the processes), and the load
    averages around each process's measurement. Per-configuration skips and errors (an
    output mismatch included) are recorded in ``results``."""
    out: dict[str, dict] = {}
    for framework, processes in raw.items():
        configs: dict[str, dict] = {}
        names = list(dict.fromkeys(n for p in processes for n in p.get("configs", {})))
        for name in names:
            entries = [p["configs"][name] for p in processes if name in p.get("configs", {})]
            bad = [e for e in entries if "error" in e]
            skipped = [e for e in entries if "skipped" in e]
            if bad:
                results["errors"][f"{framework} {name}"] = bad[0]["error"]
                configs[name] = {"error": bad[0]["error"], "check": bad[0].get("check")}
                continue
            if skipped:
                results["skipped"][f"{framework} {name}"] = skipped[0]["skipped"]
                configs[name] = {"skipped": skipped[0]["skipped"]}
                continue
            diffs = [e["check"].get("max_abs_diff") for e in entries]
            diffs = [d for d in diffs if d is not None]
            agg = {
                "api": entries[0].get("api", {}),
                "check": {**entries[0]["check"], "max_abs_diff": max(diffs) if diffs else None,
                          "ok": all(e["check"].get("ok") for e in entries)},
                "load_1min": [[e.get("load_1min_before"), e.get("load_1min_after")]
                              for e in entries],
            }
            for kind in ("infer", "train"):
                medians = [e[kind]["median_s"] for e in entries if kind in e]
                if not medians:
                    continue
                figure = statistics.median(medians)
                agg[kind] = {
                    "median_s": figure,
                    "process_min_s": min(medians),
                    "process_max_s": max(medians),
                    "process_medians_s": medians,
                    "processes": len(medians),
                    "repeats": [e[kind]["repeats"] for e in entries if kind in e],
                }
                if not CONFIGS[name].stream:
                    f = flops(CONFIGS[name], training=kind == "train")
                    agg[kind]["gflops"] = f / 1e9
                    agg[kind]["gflop_per_s"] = f / figure / 1e9
            configs[name] = agg
        out[framework] = {"configs": configs, "processes": len(processes),
                          "import_s": [p.get("import_s") for p in processes]}
    return out


def coldstart(run_worker: Callable[[dict], dict], quick: bool, env: dict) -> dict:
    """The demo model's first prediction and training step (a worker with an empty
    ``NUMBA_CACHE_DIR``), then the whole first ``npylstm demo`` run in another fresh process
    with another empty cache (``--quick``: ``--epochs 1 --samples 100 --no-keras``, which is
    not the target's measurement)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        model = run_worker({"NUMBA_CACHE_DIR": cache_dir})
    report: dict = {"model": model, "targets_s": dict(COLDSTART_TARGETS)}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "npylstm", "demo", "--out", os.path.join(tmp, "demo")]
        if quick:
            cmd += ["--epochs", "1", "--samples", "100", "--no-keras"]
        cache = os.path.join(tmp, "numba_cache")
        os.mkdir(cache)
        load_before = _load()
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env={**env, "NUMBA_CACHE_DIR": cache}, cwd=tmp,
                                  capture_output=True, text=True, timeout=900)
            demo = {"seconds": time.perf_counter() - started, "returncode": proc.returncode}
            if proc.returncode:
                demo["error"] = proc.stderr.strip()[-1500:]
        except subprocess.TimeoutExpired:
            demo = {"error": "npylstm demo timed out after 900 s"}
    demo.update({"command": " ".join(["npylstm", *cmd[3:]]).replace(tmp, "<tmp>"),
                 "load_1min_before": load_before, "load_1min_after": _load(),
                 "default_arguments": not quick})
    report["demo"] = demo
    report["verdicts"] = coldstart_verdicts(model, demo, quick)
    return report


def coldstart_verdicts(model: dict, demo: dict, quick: bool) -> dict:
    """Each cold-start figure against its target (None: not judged — ``--quick``, whose demo
    run is shortened, or a failed demo run)."""
    met = {}
    for key, target in COLDSTART_TARGETS.items():
        value = demo.get("seconds") if key == "demo_s" else model.get(key)
        valid = value is not None and not quick and (key != "demo_s" or "error" not in demo)
        met[key] = {"seconds": value, "target_s": target,
                    "met": (value <= target) if valid else None}
    return met
