"""Turn the workers' measurements into ratios, target verdicts, a rich table, a markdown
table, a JSON file and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from configs import CONFIGS
from frameworks import FRAMEWORKS, PEERS
from report_grid import coldstart_lines, grid_markdown, grid_plot, target_lines

__all__ = ["TARGETS", "analyse", "print_tables", "markdown", "write_json", "write_text", "plot"]

#: Minimum speed-up of npylstm-numba over each peer (peer time / ours), issue 15's targets:
#: ``onnxruntime`` applies to ONNX Runtime, ``others`` to every other peer, ``all`` to every
#: peer. ``strict``: the speed-up must exceed the bound (stream-1: lower latency than ORT).
SEEDS = {"infer": {"onnxruntime": 1.5, "others": 2.0}, "train": {"all": 2.0}}
TARGETS: dict[str, dict[str, dict]] = {
    "sine-20x2": SEEDS,
    "stock-50x4": SEEDS,
    "shapes-64-32": SEEDS,
    "mid-256": {"infer": {"all": 1.2}, "train": {"all": 1.2}},
    "large-512": {"infer": {"all": 1.2}, "train": {"all": 1.2}},
    "stream-1": {"infer": {"onnxruntime": 1.0, "others": 5.0, "strict": ("onnxruntime",)}},
    "gru-50x2": {"infer": {"all": 1.5}, "train": {"all": 1.5}},
}
GRID_TARGET = {"all": 1.0}
PEAK_TARGET = ("large-512", "infer", 0.80)  # fraction of the float32 matmul peak
MIN_PROCESSES = 3  # a target is judged only on the median of >= 3 process medians
KINDS = {"infer": "inference", "train": "training step"}


def _entry(timing: dict, framework: str, config: str) -> dict:
    return timing.get(framework, {}).get("configs", {}).get(config, {})


def _required(target: dict, peer: str) -> float | None:
    return target.get(peer, target.get("others", target.get("all")))


def target_text(target: dict | None) -> str:
    if not target:
        return "—"
    if "all" in target:
        return f"≥ {target['all']:g}× every peer"
    strict = target.get("strict", ())
    ort = f"{'>' if 'onnxruntime' in strict else '≥'} {target['onnxruntime']:g}× onnxruntime"
    return f"{ort}, ≥ {target['others']:g}× others"


def make_row(results: dict, timing: dict, frameworks: list[str], config: str, kind: str,
             target: dict | None) -> dict | None:
    """One configuration and kind: figures, fastest peer, speed-ups and the verdict."""
    times = {f: _entry(timing, f, config).get(kind, {}).get("median_s") for f in frameworks}
    if all(t is None for t in times.values()):
        return None
    ranges = {f: (_entry(timing, f, config).get(kind, {}).get("process_min_s"),
                  _entry(timing, f, config).get(kind, {}).get("process_max_s"))
              for f in frameworks}
    peers = {f: t for f, t in times.items() if f in PEERS and t is not None}
    fastest = min(peers, key=peers.get) if peers else None
    ours = times.get("npylstm-numba")
    speedups = {p: t / ours for p, t in peers.items()} if ours else {}
    row = {
        "config": config, "kind": kind, "times_s": times, "range_s": ranges,
        "fastest_peer": fastest, "fastest_peer_s": peers.get(fastest),
        "ratio_to_fastest_peer": {f: (t / peers[fastest] if t is not None and fastest else None)
                                  for f, t in times.items()},
        "speedup_vs_fastest_peer": peers[fastest] / ours if fastest and ours else None,
        "speedup_vs_peer": speedups,
        "target": target, "target_text": target_text(target),
    }
    entry = _entry(timing, "npylstm-numba", config)
    peak = results.get("peak", {}).get("peak_gflop_per_s")
    gflops = entry.get(kind, {}).get("gflop_per_s")
    row["numba_gflop_per_s"] = gflops
    row["numba_fraction_of_peak"] = gflops / peak if gflops and peak else None
    processes = min([entry.get(kind, {}).get("processes", 0)]
                    + [_entry(timing, p, config)[kind]["processes"] for p in peers])
    row["processes"] = processes
    met, note = None, None
    if target is None or not speedups:
        note = None if target is None else "no peer measured"
    elif processes < MIN_PROCESSES:
        note = f"not judged: {processes} process(es) < {MIN_PROCESSES}"
    else:
        strict = target.get("strict", ())
        met = all((s > _required(target, p)) if p in strict else (s >= _required(target, p))
                  for p, s in speedups.items())
    row["target_met"], row["target_note"] = met, note
    return row


def analyse(results: dict) -> dict:
    """Add ``rows`` (one per configuration and kind), ``grid_rows``, ``targets`` and
    ``memory`` verdicts."""
    rows = []
    for config in results["configs"]:
        for kind in ("infer", "train"):
            row = make_row(results, results["timing"], results["frameworks"], config, kind,
                           TARGETS.get(config, {}).get(kind))
            if row is not None:
                rows.append(row)
    results["rows"] = rows
    grid_rows = []
    for config in results.get("grid_configs", []):
        for kind in ("infer", "train"):
            row = make_row(results, results.get("grid_timing", {}),
                           results.get("grid_frameworks", []), config, kind, GRID_TARGET)
            if row is not None:
                grid_rows.append(row)
    results["grid_rows"] = grid_rows
    loads = [e for r in results.get("rounds", []) for e in (r["load_1min_before"],
                                                            r["load_1min_after"])]
    results["max_load_during_timing"] = max(loads) if loads else None

    pconfig, pkind, pfraction = PEAK_TARGET
    match = [r for r in rows if r["config"] == pconfig and r["kind"] == pkind]
    if match and match[0]["numba_fraction_of_peak"] is not None:
        results["peak_target"] = {
            "config": pconfig, "kind": pkind, "target_fraction": pfraction,
            "fraction": match[0]["numba_fraction_of_peak"],
            "met": match[0]["numba_fraction_of_peak"] >= pfraction,
        }

    memory = results.get("memory", {})
    ours, torch = memory.get("npylstm-numba", {}), memory.get("torch", {})
    if "process_peak_over_imports_mib" in ours and "process_peak_over_imports_mib" in torch:
        results["memory_target"] = {
            "npylstm_peak_over_imports_mib": ours["process_peak_over_imports_mib"],
            "torch_peak_over_imports_mib": torch["process_peak_over_imports_mib"],
            "npylstm_step_delta_mib": ours.get("step_peak_delta_mib"),
            "torch_step_delta_mib": torch.get("step_peak_delta_mib"),
            "met": ours["process_peak_over_imports_mib"]
            <= torch["process_peak_over_imports_mib"],
        }
    return results


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def _shown_frameworks(results: dict) -> list[str]:
    return [f for f in FRAMEWORKS if f in results["frameworks"]]


def _cell(row: dict, f: str) -> str:
    t = row["times_s"].get(f)
    lo, hi = row["range_s"].get(f, (None, None))
    if t is None or lo is None or lo == hi:
        return _fmt_time(t)
    return f"{_fmt_time(t)} [{_fmt_time(lo)}–{_fmt_time(hi)}]"


def verdict_cell(row: dict) -> str:
    if row["target_met"] is None:
        return row.get("target_note") or "—"
    return "yes" if row["target_met"] else "no"


def table_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the main table (shared by the terminal and markdown)."""
    frameworks = _shown_frameworks(results)
    header = ["config", "measure", *frameworks, "fastest peer", "speed-up", "vs onnxruntime",
              "target", "met", "numba GFLOP/s (% peak)"]
    cells = []
    for row in results["rows"]:
        per_step = " (per step)" if CONFIGS[row["config"]].stream else ""
        line = [row["config"], KINDS[row["kind"]] + per_step]
        line += [_cell(row, f) for f in frameworks]
        line.append(row["fastest_peer"] or "—")
        line.append(_fmt_ratio(row["speedup_vs_fastest_peer"]))
        line.append(_fmt_ratio(row["speedup_vs_peer"].get("onnxruntime")))
        line.append(row["target_text"])
        line.append(verdict_cell(row))
        g, frac = row["numba_gflop_per_s"], row["numba_fraction_of_peak"]
        line.append("—" if g is None else f"{g:.1f} ({100 * frac:.0f}%)" if frac else f"{g:.1f}")
        cells.append(line)
    return header, cells


def stamp_lines(results: dict) -> list[str]:
    m = results["machine"]
    lines = [
        f"date (UTC): {results['date']}",
        f"CPU: {m['cpu_model']}, {m['cores']} cores; threads per framework: {results['threads']}",
        f"load average (1 min) before / after the run: {results.get('load_before', '?')} / "
        f"{results.get('load_after', '?')}; highest after a timed configuration: "
        f"{results.get('max_load_during_timing', '?')} (on {results['machine']['cores']} cores)",
        f"mode: {'quick (few repeats, not for conclusions)' if results['quick'] else 'full'}; "
        f"npylstm commit {results.get('git_commit', '?')}",
        f"figure: median of {results.get('processes', 1)} fresh process(es) per framework "
        "(each the median of its timed calls), [min–max] of the process medians; processes "
        "interleaved round-robin across frameworks",
    ]
    peak = results.get("peak", {})
    if "peak_gflop_per_s" in peak:
        lines.append(
            f"float32 matmul peak (best np.matmul, {peak.get('numpy_blas', '?')}, kernels "
            f"{peak.get('blas_core', '?')}): {peak['peak_gflop_per_s']:.0f} GFLOP/s; "
            "OpenBLAS settings in every worker's environment: "
            + ("not recorded" if m.get("openblas_env") is None
               else str(m["openblas_env"] or "none (OpenBLAS chooses)"))
        )
    for framework, versions in results.get("versions", {}).items():
        lines.append(
            f"{framework}: " + ", ".join(f"{k} {v}" for k, v in versions.items())
        )
    return lines


def print_tables(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    for line in stamp_lines(results):
        console.print(line, highlight=False, markup=False)
    header, cells = table_rows(results)
    table = Table(title="Median time (ratio to the fastest peer); speed-up = fastest peer / "
                        "npylstm-numba")
    for h in header:
        table.add_column(h, overflow="fold")
    for line in cells:
        table.add_row(*line)
    if cells:
        console.print(table)
    for line in extra_lines(results):
        console.print(line, highlight=False, markup=False)


def check_lines(results: dict) -> list[str]:
    """The output check of every framework (largest |difference| over its configurations)."""
    lines = []
    for part in ("timing", "grid_timing"):
        for framework, data in results.get(part, {}).items():
            diffs = [e["check"]["max_abs_diff"] for e in data.get("configs", {}).values()
                     if (e.get("check") or {}).get("max_abs_diff") is not None]
            bad = [n for n, e in data.get("configs", {}).items()
                   if e.get("check") and not e["check"].get("ok")]
            if framework != "npylstm-numba" and (diffs or bad):
                lines.append(
                    f"output check ({part.replace('_timing', '')}) {framework} vs npylstm-numba, "
                    f"same weights: max |diff| {max(diffs) if diffs else float('nan'):.2e}"
                    + (f"; MISMATCH in {bad}" if bad else " (all within 1e-5)"))
    return lines


def extra_lines(results: dict) -> list[str]:
    """Skips, peak fraction, compile time, cache reuse and memory as plain sentences."""
    lines = []
    for r in results.get("rounds", []):
        steal = r.get("steal_fraction")  # absent in results older than the field
        stolen = "" if steal is None else f"; {100 * steal:.1f}% of CPU time stolen by the host"
        lines.append(
            f"round {r['round']} ({r['part']}, {r.get('seconds', '?')} s): load (1 min) "
            f"{r['load_1min_before']} before, {r['load_1min_after']} after{stolen}; order "
            f"{', '.join(r['order'])}")
    lines += check_lines(results)
    for framework, reason in results.get("skipped", {}).items():
        lines.append(f"skipped {framework}: {reason}")
    for framework, reason in results.get("errors", {}).items():
        lines.append(f"error in {framework}: {reason}")
    pt = results.get("peak_target")
    if pt:
        lines.append(
            f"{pt['config']} {KINDS[pt['kind']]}: {100 * pt['fraction']:.0f}% of the float32 "
            f"matmul peak (target ≥ {100 * pt['target_fraction']:.0f}%: "
            f"{'met' if pt['met'] else 'not met'})"
        )
    lines += target_lines(results)
    lines += coldstart_lines(results)
    comp = results.get("compile")
    if comp and "first" in comp and "second" in comp and "calls" in comp["first"]:
        a, b = comp["first"], comp["second"]
        if "calls" in b:
            lines.append(
                f"compile ({a['config']}, fresh NUMBA_CACHE_DIR): first inference call "
                f"{a['calls']['infer']['first_s']:.2f} s (next call "
                f"{_fmt_time(a['calls']['infer']['second_s'])}), first training step "
                f"{a['calls']['train']['first_s']:.2f} s; import {a['import_s']:.2f} s; "
                f"cache hits/misses {a['numba_cache_hits']}/{a['numba_cache_misses']}"
            )
            lines.append(
                f"second process, same cache: first inference call "
                f"{b['calls']['infer']['first_s']:.3f} s, first training step "
                f"{b['calls']['train']['first_s']:.3f} s; cache hits/misses "
                f"{b['numba_cache_hits']}/{b['numba_cache_misses']} -> cache "
                f"{'reused' if comp.get('cache_reused') else 'NOT reused'}"
            )
    for framework, mem in results.get("memory", {}).items():
        if "process_peak_over_imports_mib" not in mem:
            continue
        delta = mem.get("step_peak_delta_mib")
        lines.append(
            f"memory {mem['config']} training step, {framework}: peak RSS "
            f"{mem['process_peak_over_imports_mib']:.0f} MiB over the post-import baseline, "
            f"step's own peak +{delta:.0f} MiB over the RSS before it"
            if delta is not None else f"memory {framework}: {mem}"
        )
    if results.get("memory") and results.get("memory_method"):
        lines.append(f"memory method: {results['memory_method']}")
    ours = results["timing"].get("npylstm-numba", {}).get("configs", {})
    api = next((e["api"] for e in ours.values() if "train" in e.get("api", {})), None)
    if api:
        lines.append(f"npylstm calls timed: inference {api['infer']}; training {api['train']}")
    mt = results.get("memory_target")
    if mt:
        lines.append(
            f"memory target (npylstm-numba ≤ torch): {'met' if mt['met'] else 'not met'}"
        )
    return lines


def markdown(results: dict, plots: list[str]) -> str:
    header, cells = table_rows(results)
    out = ["# npylstm benchmark results", ""]
    out += [f"- {line}" for line in stamp_lines(results)]
    out += [
        "",
        "Figure: the median over fresh processes of each process's median wall time after "
        "warm-up, [min–max] of the process medians. *speed-up* = fastest peer time / "
        "npylstm-numba time; *vs onnxruntime* = ONNX Runtime's time / npylstm-numba's. Every "
        "peer ran on npylstm's weights and its output was checked equal (within 1e-5) first.",
        "",
    ]
    if cells:
        out += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
        out += ["| " + " | ".join(line) + " |" for line in cells] + [""]
    out += [f"- {line}" for line in extra_lines(results)]
    out += grid_markdown(results)
    if plots:
        out += [""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(out) + "\n"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (``npylstm.io.atomic.atomic_write``)."""
    from npylstm.io.atomic import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(results: dict, path: Path) -> None:
    write_text(path, json.dumps(results, indent=1, sort_keys=False))


def _save(fig, title: str, path: Path) -> str:
    """Title, lay out, write and close one figure; returns its path."""
    import matplotlib.pyplot as plt

    from npylstm.plots import save_figure

    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return str(path)


def plot(results: dict, outdir: Path) -> list[str]:
    """``times.png`` (every configuration) and ``scaling.png`` (the sweep)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    stamp = f"{results['date']} · {results['machine']['cpu_model']} · " \
            f"{results['machine']['cores']} cores · {results['threads']} threads"
    written = []
    frameworks = _shown_frameworks(results)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    for ax, kind in zip(axes, ("infer", "train"), strict=True):
        rows = [r for r in results["rows"] if r["kind"] == kind]
        width = 0.8 / max(1, len(frameworks))
        for i, f in enumerate(frameworks):
            xs = [j + i * width for j in range(len(rows))]
            ys = [(r["times_s"].get(f) or float("nan")) * 1e3 for r in rows]
            ax.bar(xs, ys, width, label=f)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rows))])
        ax.set_xticklabels([r["config"] for r in rows], rotation=20)
        ax.set_yscale("log")
        ax.set_ylabel("median time (ms, log scale)")
        ax.set_title(KINDS[kind] + (" (stream-1: per step)" if kind == "infer" else ""))
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    written.append(_save(fig, f"Time per call — {stamp}", outdir / "times.png"))

    sweep = results.get("sweep", {})
    if sweep:
        axes_names = ["timesteps", "batch", "units"]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        colors = {f: f"C{i}" for i, f in enumerate(FRAMEWORKS)}
        for ax, axis in zip(axes, axes_names, strict=True):
            for framework, data in sweep.items():
                points = [p for p in data.get("points", []) if p["axis"] == axis]
                if not points:
                    continue
                xs = [p["value"] for p in points]
                ax.plot(xs, [p["infer_s"] * 1e3 for p in points], "o-",
                        color=colors[framework], label=f"{framework} inference")
                ax.plot(xs, [p["train_s"] * 1e3 for p in points], "s--",
                        color=colors[framework], label=f"{framework} training step")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(axis)
            ax.set_ylabel("median time (ms)")
            ax.grid(which="both", alpha=0.3)
        base = results.get("sweep_base", "")
        axes[0].legend(fontsize=8)
        written.append(_save(fig, f"Scaling from {base} — {stamp}", outdir / "scaling.png"))
    heatmap = grid_plot(results, outdir, stamp)
    if heatmap:
        written.append(heatmap)
    return written
