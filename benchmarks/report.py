"""Turn the workers' measurements into ratios, target verdicts, a rich table, a markdown
table, a JSON file and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

from configs import CONFIGS
from frameworks import FRAMEWORKS, PEERS

__all__ = ["TARGETS", "analyse", "print_tables", "markdown", "write_json", "plot"]

#: Minimum speed-up of npylstm-numba over the fastest peer (fastest peer time / ours).
TARGETS: dict[str, dict[str, float]] = {
    "sine-20x2": {"infer": 2.0, "train": 2.0},
    "stock-50x4": {"infer": 2.0, "train": 2.0},
    "shapes-64-32": {"infer": 2.0, "train": 2.0},
    "mid-256": {"infer": 1.0, "train": 1.0},
    "large-512": {"infer": 1.0, "train": 1.0},
    "stream-1": {"infer": 5.0},
}
PEAK_TARGET = ("large-512", "infer", 0.75)  # fraction of the float32 matmul peak
KINDS = {"infer": "inference", "train": "training step"}


def _median(results: dict, framework: str, config: str, kind: str) -> float | None:
    entry = results["timing"].get(framework, {}).get("configs", {}).get(config, {})
    return entry.get(kind, {}).get("median_s")


def analyse(results: dict) -> dict:
    """Add ``rows`` (one per configuration and kind), ``targets`` and ``memory`` verdicts."""
    peak = results.get("peak", {}).get("peak_gflop_per_s")
    rows = []
    for config in results["configs"]:
        for kind in ("infer", "train"):
            times = {f: _median(results, f, config, kind) for f in results["frameworks"]}
            if all(t is None for t in times.values()):
                continue
            peers = {f: t for f, t in times.items() if f in PEERS and t is not None}
            fastest = min(peers, key=peers.get) if peers else None
            ours = times.get("npylstm-numba")
            row = {
                "config": config,
                "kind": kind,
                "times_s": times,
                "fastest_peer": fastest,
                "fastest_peer_s": peers.get(fastest),
                "ratio_to_fastest_peer": {
                    f: (t / peers[fastest] if t is not None and fastest else None)
                    for f, t in times.items()
                },
                "speedup_vs_fastest_peer": (
                    peers[fastest] / ours if fastest and ours else None
                ),
            }
            entry = results["timing"].get("npylstm-numba", {}).get("configs", {}).get(config, {})
            gflops = entry.get(kind, {}).get("gflop_per_s")
            row["numba_gflop_per_s"] = gflops
            row["numba_fraction_of_peak"] = gflops / peak if gflops and peak else None
            target = TARGETS.get(config, {}).get(kind)
            row["target_speedup"] = target
            row["target_met"] = (
                None if target is None or row["speedup_vs_fastest_peer"] is None
                else row["speedup_vs_fastest_peer"] >= target
            )
            rows.append(row)
    results["rows"] = rows
    loads = [
        e.get("load_1min_after", 0.0)
        for t in results["timing"].values() for e in t.get("configs", {}).values()
    ]
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


def _verdict(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "**no**")


def _shown_frameworks(results: dict) -> list[str]:
    return [f for f in FRAMEWORKS if f in results["frameworks"]]


def table_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the main table (shared by the terminal and markdown)."""
    frameworks = _shown_frameworks(results)
    header = ["config", "measure", *frameworks, "fastest peer", "speed-up", "target", "met",
              "numba GFLOP/s (% peak)"]
    cells = []
    for row in results["rows"]:
        per_step = " (per step)" if CONFIGS[row["config"]].stream else ""
        line = [row["config"], KINDS[row["kind"]] + per_step]
        for f in frameworks:
            t, r = row["times_s"].get(f), row["ratio_to_fastest_peer"].get(f)
            line.append(_fmt_time(t) if r is None else f"{_fmt_time(t)} ({r:.2f})")
        line.append(row["fastest_peer"] or "—")
        line.append(_fmt_ratio(row["speedup_vs_fastest_peer"]))
        target = row["target_speedup"]
        line.append("—" if target is None else f"≥ {target:g}×")
        line.append(_verdict(row["target_met"]).replace("**", ""))
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
    ]
    peak = results.get("peak", {})
    if "peak_gflop_per_s" in peak:
        lines.append(
            f"float32 matmul peak (best np.matmul, {peak.get('numpy_blas', '?')}): "
            f"{peak['peak_gflop_per_s']:.0f} GFLOP/s"
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
        console.print(line, highlight=False)
    header, cells = table_rows(results)
    table = Table(title="Median time (ratio to the fastest peer); speed-up = fastest peer / "
                        "npylstm-numba")
    for h in header:
        table.add_column(h, overflow="fold")
    for line in cells:
        table.add_row(*line)
    console.print(table)
    for line in extra_lines(results):
        console.print(line, highlight=False)


def extra_lines(results: dict) -> list[str]:
    """Skips, peak fraction, compile time, cache reuse and memory as plain sentences."""
    lines = []
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
        "Median wall time after warm-up; in parentheses the ratio to the fastest peer "
        "(lower is better). *speed-up* = fastest peer time / npylstm-numba time.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    out += ["| " + " | ".join(line) + " |" for line in cells]
    out += [""]
    out += [f"- {line}" for line in extra_lines(results)]
    if plots:
        out += [""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(out) + "\n"


def write_json(results: dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, sort_keys=False))


def _save(fig, title: str, path: Path) -> str:
    """Title, lay out, write and close one figure; returns its path."""
    import matplotlib.pyplot as plt

    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
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
    return written
