"""One measurement task in its own process: ``python benchmarks/worker.py TASK ...``.

run.py starts one worker per framework and task, with the thread environment variables
already set, so every framework is imported fresh (Keras chooses its backend at import)
and memory figures are not mixed between frameworks. The worker writes one JSON document
to ``--out``; a framework that cannot be imported is reported as skipped with the reason.

Tasks
-----
timing   median inference / training-step times for ``--configs``
sweep    the scaling sweep (time versus timesteps, batch, units)
memory   resident memory of one training step (see :func:`memory_task`)
compile  first-call (compile) time of npylstm's Numba core and its on-disk cache use
coldstart  the demo model's first prediction and first training step, empty Numba cache
peak     float32 matrix-multiply peak (np.matmul), the yardstick for GFLOP/s
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from configs import CONFIGS, flops, sweep_configs  # noqa: E402
from timing import TimingPlan, time_calls  # noqa: E402


def _import_framework(framework: str) -> None:
    """Import what ``framework`` needs, so a missing library is a skip, not a crash."""
    if framework.startswith("npylstm"):
        import npylstm  # noqa: F401
    elif framework == "torch" or framework == "keras-torch":
        import torch  # noqa: F401
    elif framework in ("onnxruntime", "openvino"):
        __import__(framework)
        import onnx  # noqa: F401  (npylstm.io.export_onnx writes the file with it)
    if framework.startswith("keras-"):
        backend = framework.split("-", 1)[1]
        if os.environ.get("KERAS_BACKEND") != backend:
            raise RuntimeError(f"KERAS_BACKEND must be {backend!r} for {framework}")
        __import__(backend)
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, not {backend!r}")


def timing_task(framework: str, config_names: list[str], plan: TimingPlan,
                threads: int) -> dict:
    """Per configuration: the output check against npylstm (same weights), then the timings.

    A peer whose output differs from npylstm-numba's by more than ``CHECK_ATOL`` is not
    timed: the entry carries ``error`` (a mismatch is an error in the report)."""
    from frameworks import CHECK_ATOL, SkipConfig, build

    results = {}
    for name in config_names:
        config = CONFIGS[name]
        entry: dict = {"load_1min_before": round(os.getloadavg()[0], 2)}
        try:
            bench = build(framework, config, threads=threads)
            entry["api"] = bench.api
            entry["check"] = bench.check
            if not bench.check.get("ok"):
                raise RuntimeError(
                    f"output differs from npylstm-numba's on the same weights: max |diff| "
                    f"{bench.check.get('max_abs_diff')} > {CHECK_ATOL} "
                    f"{bench.check.get('reason', '')}".strip())
            if config.stream:
                entry["infer"] = time_calls(bench.infer, plan.for_stream(framework))
            else:
                entry["infer"] = time_calls(bench.infer, plan.for_framework(framework, config))
                if bench.train is not None:
                    entry["train"] = time_calls(bench.train,
                                                plan.for_framework(framework, config))
            for kind in ("infer", "train"):
                if kind in entry and not config.stream:
                    f = flops(config, training=kind == "train")
                    entry[kind]["gflops"] = f / 1e9
                    entry[kind]["gflop_per_s"] = f / entry[kind]["median_s"] / 1e9
        except SkipConfig as exc:
            entry["skipped"] = str(exc)
        except Exception as exc:  # a failing configuration must not hide the others
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc(limit=8)
        entry["load_1min_after"] = round(os.getloadavg()[0], 2)
        results[name] = entry
        gc.collect()
    return {"configs": results}


def sweep_task(framework: str, plan: TimingPlan, threads: int) -> dict:
    from frameworks import build

    points = []
    for axis, value, config in sweep_configs(plan.quick):
        bench = build(framework, config, threads=threads, same_weights=False)
        sweep_plan = plan.for_sweep()
        point = {"axis": axis, "value": value, "config": config.to_dict()}
        point["infer_s"] = time_calls(bench.infer, sweep_plan)["median_s"]
        point["train_s"] = time_calls(bench.train, sweep_plan)["median_s"]
        points.append(point)
        del bench
        gc.collect()
    return {"points": points}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_task(framework: str, config_name: str, baseline_kib: int) -> dict:
    """Resident memory (RSS) of one training step, from /proc/self/status.

    * ``step_peak_delta_mib``: the model is built and one warm-up training step has run
      (optimizer state allocated, kernels compiled, allocator pools filled). Then the
      kernel's high-water mark is reset (``echo 5 > /proc/self/clear_refs``), one more
      training step runs, and the result is ``VmHWM - VmRSS_before``: the extra memory the
      step itself needs at its peak.
    * ``process_peak_over_imports_mib``: ``VmHWM`` at the end minus the RSS right after the
      framework's imports: model, data, optimizer state, compiled code and the step peak.
    """
    from frameworks import build

    config = CONFIGS[config_name]
    after_import = _status_kib("VmRSS")
    bench = build(framework, config, same_weights=False)
    bench.train()  # warm-up: optimizer slots, compilation, allocator pools
    gc.collect()
    before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        reset = True
    except OSError:
        reset = False
    bench.train()
    hwm = _status_kib("VmHWM")
    result = {
        "config": config_name,
        "rss_before_imports_mib": baseline_kib / 1024,
        "rss_after_imports_mib": after_import / 1024,
        "rss_before_step_mib": before / 1024,
        "process_peak_mib": hwm / 1024,
        "process_peak_over_imports_mib": (hwm - after_import) / 1024,
        "hwm_reset": reset,
        "step_peak_delta_mib": (hwm - before) / 1024 if reset else None,
    }
    if framework.startswith("npylstm"):
        # NumPy reports its allocations to tracemalloc: the step's peak array memory
        import tracemalloc

        tracemalloc.start()
        bench.train()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_step_peak_mib"] = peak / 2**20
    return result


def compile_task(config_name: str) -> dict:
    """First-call times of npylstm (compile or cache load) and Numba's cache statistics.

    run.py runs this twice with the same fresh ``NUMBA_CACHE_DIR``: the first process
    compiles and writes the cache, the second should load it.
    """
    t0 = time.perf_counter()
    import npylstm
    from npylstm.ops import _numba_util, gru_numba, lstm_numba

    import_s = time.perf_counter() - t0
    from frameworks import build

    bench = build("npylstm-numba", CONFIGS[config_name])
    calls = {}
    for kind in ("infer", "train"):
        fn = bench.infer if kind == "infer" else bench.train
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        fn()
        second = time.perf_counter() - t0
        calls[kind] = {"first_s": first, "second_s": second}
    hits = misses = 0
    for module in (lstm_numba, gru_numba):  # every compiled kernel of both cores
        for name in dir(module):
            stats = getattr(getattr(module, name), "stats", None)
            if stats is not None and hasattr(stats, "cache_hits"):
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    return {
        "config": config_name,
        "import_s": import_s,
        "calls": calls,
        "numba_cache_hits": hits,
        "numba_cache_misses": misses,
        "cache_status": dict(_numba_util.CACHE_STATUS),
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
        "npylstm": npylstm.__version__,
    }


def _count_files(directory: str) -> int | None:
    return sum(len(f) for _, _, f in os.walk(directory)) if directory else None


def coldstart_task() -> dict:
    """Seconds to the first prediction and the first training step of the demo model
    (``npylstm demo``'s LSTM(20, return_sequences=True) + LSTM(20) + Dense(5) on (50, 1),
    adam, mae; one batch of 32), in a process whose ``NUMBA_CACHE_DIR`` run.py made empty.

    Each figure is the wall time of that one call (compilation included), measured from the
    call, not from the imports (``import_s`` is given separately)."""
    t0 = time.perf_counter()
    import npylstm
    from npylstm.layers import LSTM, Dense

    import_s = time.perf_counter() - t0
    npylstm.set_random_seed(0)
    model = npylstm.Sequential(
        [npylstm.Input((50, 1)), LSTM(20, return_sequences=True), LSTM(20), Dense(5)])
    model.compile(optimizer="adam", loss="mae")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 50, 1)).astype(np.float32)
    y = rng.standard_normal((32, 5)).astype(np.float32)
    t0 = time.perf_counter()
    model.predict(x, verbose=0)
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    train_again_s = time.perf_counter() - t0
    return {"import_s": import_s, "first_predict_s": predict_s,
            "first_train_step_s": train_s, "second_train_step_s": train_again_s,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
            "cache_files_after": _count_files(os.environ.get("NUMBA_CACHE_DIR", "")),
            "npylstm": npylstm.__version__}


def peak_task(quick: bool) -> dict:
    """Best float32 ``np.matmul`` rate over square sizes: the machine's measured peak."""
    sizes = [512, 1024] if quick else [1024, 2048, 3072]
    rng = np.random.default_rng(0)
    by_size = {}
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        out = np.empty((n, n), np.float32)
        for _ in range(2):
            np.matmul(a, b, out=out)
        times = []
        for _ in range(3 if quick else 10):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t0)
        by_size[n] = {
            "best_gflop_per_s": 2 * n**3 / min(times) / 1e9,
            "median_gflop_per_s": 2 * n**3 / float(np.median(times)) / 1e9,
        }
    peak = max(v["best_gflop_per_s"] for v in by_size.values())
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - only a label
        blas = "unknown"
    try:  # the kernels OpenBLAS runs (its own choice, or OPENBLAS_CORETYPE's)
        from threadpoolctl import threadpool_info

        core = ", ".join(sorted({str(i.get("architecture")) for i in threadpool_info()
                                 if i.get("user_api") == "blas"}))
    except ImportError:
        core = "unknown"
    return {"peak_gflop_per_s": peak, "by_size": by_size, "numpy_blas": blas,
            "blas_core": core}


def main() -> None:
    baseline_kib = _status_kib("VmRSS")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["timing", "sweep", "memory", "compile", "coldstart",
                                         "peak"])
    parser.add_argument("--framework", default="npylstm-numba")
    parser.add_argument("--configs", default="")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from frameworks import configure_threads, versions

    result: dict = {"task": args.task, "framework": args.framework, "python": sys.executable}
    try:
        if args.task not in ("peak", "compile", "coldstart"):
            t0 = time.perf_counter()
            _import_framework(args.framework)
            result["import_s"] = time.perf_counter() - t0
            configure_threads(args.framework, args.threads)
        result["versions"] = versions(args.framework)
        plan = TimingPlan(quick=args.quick)
        configs = [c for c in args.configs.split(",") if c]
        if args.task == "timing":
            result.update(timing_task(args.framework, configs, plan, args.threads))
        elif args.task == "sweep":
            result.update(sweep_task(args.framework, plan, args.threads))
        elif args.task == "memory":
            result.update(memory_task(args.framework, configs[0], baseline_kib))
        elif args.task == "compile":
            result.update(compile_task(configs[0]))
        elif args.task == "coldstart":
            result.update(coldstart_task())
        else:
            result.update(peak_task(args.quick))
    except ImportError as exc:
        result["skipped"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # reported in the results, never silently dropped
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc(limit=8)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
