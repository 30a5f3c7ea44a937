"""Benchmark npylstm against PyTorch, Keras 3, ONNX Runtime and OpenVINO on the CPU:
``python -m benchmarks.run --all`` (or ``python benchmarks/run.py``).

Every framework runs in its own subprocess (``worker.py``) with the same thread settings;
peers that are not installed are listed as skipped with the reason. Each configuration is
timed in ``--processes`` (default 3) fresh processes per framework, interleaved round-robin
across frameworks (each round starts one framework later); the figure is the median of the
process medians, shown with their min–max, and the 1-minute load average is recorded before
and after each round. Before timing, every peer's output on the benchmark batch is checked
against npylstm-numba's on the same weights (within 1e-5): a mismatch is an error.
Results go to ``benchmarks/results/`` (``--quick``: ``benchmarks/results/quick/``):
``results.json``, ``results.md``, ``times.png``, ``scaling.png`` and ``grid.png``, each
stamped with date, CPU, core count, load, commit and versions.

Examples::

    python -m benchmarks.run --all              # everything (~1 h on an idle 2-core machine)
    python -m benchmarks.run --quick            # every part, few repeats, one process each
    python benchmarks/run.py --quick --frameworks npylstm-numba --configs tiny --parts timing
    python benchmarks/run.py --tf-python /path/to/tf-venv/bin/python   # Keras on TensorFlow
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from configs import (  # noqa: E402
    CONFIGS,
    DEFAULT_CONFIGS,
    SWEEP_BASE,
    SWEEP_BASE_QUICK,
    grid_configs,
)
from frameworks import FRAMEWORKS, INFERENCE_ONLY  # noqa: E402
from report import analyse, markdown, plot, print_tables, write_json, write_text  # noqa: E402
from rounds import aggregate, coldstart, timed_rounds  # noqa: E402

PARTS = ["timing", "grid", "peak", "compile", "coldstart", "memory", "sweep"]
#: The size grid's frameworks: training peers torch and Keras-JAX, and the inference peers.
NAMED = sorted(c for c in CONFIGS if not c.startswith("grid-"))
GRID_FRAMEWORKS = ["npylstm-numba", "torch", "keras-jax", *INFERENCE_ONLY]
THREAD_VARS = [
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
]


def child_env(framework: str, threads: int, extra: dict[str, str] | None = None) -> dict:
    """The environment of a worker: the same thread count for every library.

    XLA (Keras on JAX) has no flag for its CPU thread-pool size; it uses one thread per
    core, which equals ``threads`` when ``threads`` is the core count (the default on the
    2-core development machine). With ``--threads 1`` its multi-threaded Eigen is switched
    off.
    """
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if threads == 1:
        flags = env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        env["XLA_FLAGS"] = flags.strip()
    if framework.startswith("keras-"):
        env["KERAS_BACKEND"] = framework.split("-", 1)[1]
    env.update(extra or {})
    return env


def python_for(framework: str, args) -> str:
    if framework == "keras-tensorflow" and args.tf_python:
        return args.tf_python
    return sys.executable


def run_worker(task: str, framework: str, args, configs: list[str] = (),
               extra_env: dict[str, str] | None = None, timeout: float | None = None) -> dict:
    """Run one worker and return its JSON (or an ``error`` entry with the stderr tail)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [python_for(framework, args), str(HERE / "worker.py"), task,
               "--framework", framework, "--configs", ",".join(configs),
               "--threads", str(args.threads), "--out", str(out)]
        if args.quick:
            cmd.append("--quick")
        label = f"{task} {framework}" + (f" [{','.join(configs)}]" if configs else "")
        print(f"· {label} ...", end=" ", flush=True)
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=child_env(framework, args.threads, extra_env),
                                  capture_output=True, text=True,
                                  timeout=timeout or (600 if args.quick else 3600))
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        except OSError as exc:  # e.g. --tf-python does not exist
            return {"skipped": f"cannot start {cmd[0]}: {exc}"}
        print(f"{time.perf_counter() - started:.0f} s", flush=True)
        if out.exists():
            result = json.loads(out.read_text())
        else:
            result = {"error": f"worker exited with {proc.returncode}: "
                               f"{proc.stderr.strip()[-1500:]}"}
        if "skipped" in result and framework == "keras-tensorflow":
            result["skipped"] += (f" (interpreter {cmd[0]}; install tensorflow-cpu there or "
                                  "pass --tf-python)")
        return result


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            # inherited by every worker: OpenBLAS kernel and cache-size pins, if the
            # machine's environment sets them
            "openblas_env": {k: v for k, v in sorted(os.environ.items())
                             if k.startswith("OPENBLAS_") and k != "OPENBLAS_NUM_THREADS"}}


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "npylstm"], cwd=HERE,
                               text=True, capture_output=True).stdout.strip()
        return sha + (" + uncommitted changes in npylstm/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true",
                        help="every part, configuration and framework (the default selection; "
                             "the documented one-command run)")
    parser.add_argument("--quick", action="store_true",
                        help="few repeats, one process each, a tiny grid and sweep: checks the "
                             "harness, not speed")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for every framework (default 2)")
    parser.add_argument("--processes", type=int, default=None,
                        help="fresh processes per framework and configuration (default 3; "
                             "--quick: 1); targets are judged only with >= 3")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                        help=f"comma-separated, from {NAMED} (grid points: part 'grid')")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help=f"comma-separated, from {FRAMEWORKS}")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {PARTS}")
    parser.add_argument("--tf-python", default=os.environ.get("NPYLSTM_BENCH_TF_PYTHON"),
                        help="Python interpreter with tensorflow-cpu for the keras-tensorflow "
                             "worker (default: this one; env NPYLSTM_BENCH_TF_PYTHON)")
    parser.add_argument("--memory-config", default=None,
                        help="configuration for the memory part (default large-512; "
                             "--quick: the first selected configuration)")
    parser.add_argument("--out", default=None,
                        help="output directory (default benchmarks/results, --quick: "
                             "benchmarks/results/quick)")
    args = parser.parse_args(argv)

    configs = [c for c in args.configs.split(",") if c]
    frameworks = [f for f in args.frameworks.split(",") if f]
    parts = [p for p in args.parts.split(",") if p]
    if args.all:
        configs, frameworks, parts = list(DEFAULT_CONFIGS), list(FRAMEWORKS), list(PARTS)
    for name, given, known in (("configuration", configs, CONFIGS), ("framework", frameworks,
                               FRAMEWORKS), ("part", parts, PARTS)):
        unknown = [g for g in given if g not in known]
        if unknown:
            parser.error(f"unknown {name}(s) {unknown}: expected some of {sorted(known)}")
    if args.processes is None:
        args.processes = 1 if args.quick else 3
    if args.processes < 1:
        parser.error(f"--processes: expected an integer >= 1, received {args.processes}")
    outdir = Path(args.out) if args.out else HERE / "results" / ("quick" if args.quick else "")
    outdir.mkdir(parents=True, exist_ok=True)

    results: dict = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "threads": args.threads,
        "processes": args.processes,
        "load_before": round(os.getloadavg()[0], 2),
        "quick": args.quick,
        "git_commit": git_commit(),
        "command": " ".join(["run.py", *(argv if argv is not None else sys.argv[1:])]),
        "configs": configs,
        "config_details": {c: CONFIGS[c].to_dict() for c in configs},
        "frameworks": frameworks,
        "timing": {},
        "rounds": [],
        "skipped": {},
        "errors": {},
        "versions": {},
    }

    def worker(framework: str, names: list[str]) -> dict:
        return run_worker("timing", framework, args, names)

    # the configurations and the grid points share the worker processes: one process per
    # framework and round does both (grid points only for the grid's frameworks)
    grid = grid_configs(args.quick) if "grid" in parts else []
    grid_names = [c.name for c in grid]
    grid_fw = [f for f in GRID_FRAMEWORKS if f in frameworks] if grid else []
    main_names = configs if "timing" in parts else []

    def names_for(framework: str) -> list[str]:
        return main_names + (grid_names if framework in grid_fw else [])

    timed = [f for f in frameworks if names_for(f)]
    timing = aggregate(timed_rounds("+".join(p for p in ("timing", "grid") if p in parts),
                                    timed, names_for, worker, args.processes, results),
                       results) if timed else {}

    def select(names: list[str], fws: list[str]) -> dict:
        return {f: {**d, "configs": {n: e for n, e in d["configs"].items() if n in names}}
                for f, d in timing.items() if f in fws}

    results["timing"] = select(main_names, frameworks)
    available = [f for f in frameworks if f in results["timing"]] if main_names else frameworks
    if grid:
        results["grid_configs"] = grid_names
        results["config_details"].update({c.name: c.to_dict() for c in grid})
        results["grid_frameworks"] = grid_fw
        results["grid_timing"] = select(grid_names, grid_fw)

    if "peak" in parts:
        results["peak"] = run_worker("peak", "npylstm-numba", args)

    if "compile" in parts and "npylstm-numba" in frameworks:
        config = configs[0]
        with tempfile.TemporaryDirectory() as cache_dir:
            extra = {"NUMBA_CACHE_DIR": cache_dir}
            first = run_worker("compile", "npylstm-numba", args, [config], extra)
            second = run_worker("compile", "npylstm-numba", args, [config], extra)
        results["compile"] = {"first": first, "second": second}
        if "calls" in first and "calls" in second:
            results["compile"]["cache_reused"] = (
                second["numba_cache_hits"] > 0 and second["numba_cache_misses"] == 0
            )
            results["compile"]["compile_s"] = {
                kind: first["calls"][kind]["first_s"] - first["calls"][kind]["second_s"]
                for kind in ("infer", "train")
            }

    if "coldstart" in parts and "npylstm-numba" in frameworks:
        results["coldstart"] = coldstart(
            lambda extra: run_worker("coldstart", "npylstm-numba", args, (), extra),
            args.quick, child_env("npylstm-numba", args.threads))

    if "memory" in parts:
        mconfig = args.memory_config or (configs[0] if args.quick else "large-512")
        results["memory"] = {}
        for framework in [f for f in available if not CONFIGS[mconfig].stream]:
            if framework == "npylstm-reference" or framework in INFERENCE_ONLY:
                continue  # reference: same arrays as numba's cache; no training step
            mem = run_worker("memory", framework, args, [mconfig])
            if "skipped" not in mem:
                results["memory"][framework] = mem
        results["memory_method"] = (
            "RSS from /proc/self/status in one subprocess per framework: model built, one "
            "warm-up training step, VmHWM reset via /proc/self/clear_refs, one training step; "
            "peak over imports = VmHWM - RSS right after importing the framework (model, data, "
            "optimizer state, compiled code, step peak); step delta = VmHWM - RSS before the step"
        )

    if "sweep" in parts:
        results["sweep"] = {}
        results["sweep_base"] = (SWEEP_BASE_QUICK if args.quick else SWEEP_BASE).describe()
        for framework in ("npylstm-numba", "torch"):
            if framework in available:
                sweep = run_worker("sweep", framework, args)
                if "points" in sweep:
                    results["sweep"][framework] = sweep
                else:
                    results["errors"][f"sweep {framework}"] = sweep.get("error") or sweep.get(
                        "skipped")

    results["load_after"] = round(os.getloadavg()[0], 2)
    analyse(results)
    plots = plot(results, outdir)
    results["plots"] = [Path(p).name for p in plots]
    write_json(results, outdir / "results.json")
    write_text(outdir / "results.md", markdown(results, plots))
    print_tables(results)
    print(f"written: {outdir / 'results.json'}, {outdir / 'results.md'}"
          + "".join(f", {p}" for p in plots))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
