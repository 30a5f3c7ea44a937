"""The size grid's acceptance tables and heatmap, and the cold-start lines of the report.

The grid (issue 15): one LSTM (or GRU) layer, 50 steps, 32 features, batch {1, 8, 32, 128}
× units {32, 128, 512}, inference and training step; at each point npylstm-numba's figure
against the fastest measured peer (training: torch, Keras-JAX; inference also ONNX Runtime,
OpenVINO, Keras on NumPy). Speed-up = fastest peer's time / npylstm's; target ≥ 1.0×.
"""

from __future__ import annotations

import math
from pathlib import Path

from configs import CONFIGS

__all__ = ["grid_markdown", "grid_plot", "coldstart_lines", "target_lines"]

KINDS = {"infer": "inference", "train": "training step"}


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def _fmt_speedup(s: float) -> str:
    return f"{s:.2f}×" if s >= 0.1 else f"{s:.2g}×"


def _axes(results: dict) -> tuple[list[str], list[int], list[int]]:
    points = [CONFIGS[n] for n in results.get("grid_configs", [])]
    cells = list(dict.fromkeys(c.cell for c in points))
    batches = sorted({c.batch for c in points})
    units = sorted({c.units[0] for c in points})
    return cells, batches, units


def _row(results: dict, cell: str, batch: int, units: int, kind: str) -> dict | None:
    for row in results.get("grid_rows", []):
        c = CONFIGS[row["config"]]
        if (c.cell, c.batch, c.units[0], row["kind"]) == (cell, batch, units, kind):
            return row
    return None


def grid_markdown(results: dict) -> list[str]:
    """Per cell kind and measure: a batch × units table of speed-ups (fastest peer and the
    verdict in each cell), then one detailed row per point."""
    if not results.get("grid_rows"):
        return []
    cells, batches, units = _axes(results)
    out = ["", "## Size grid (acceptance table)", "",
           "One recurrent layer, " + _grid_shape(results) + "; each cell: speed-up = fastest "
           "peer time / npylstm-numba time (the fastest peer in parentheses), target "
           "≥ 1.0× at every point; *yes/no* only with ≥ 3 processes.", ""]
    for cell in cells:
        for kind in ("infer", "train"):
            out += [f"**{cell.upper()} {KINDS[kind]}**", "",
                    "| batch \\ units | " + " | ".join(str(u) for u in units) + " |",
                    "| --- |" + " --- |" * len(units)]
            for b in batches:
                line = [f"{b}"]
                for u in units:
                    row = _row(results, cell, b, u, kind)
                    if row is None or row["speedup_vs_fastest_peer"] is None:
                        line.append("—")
                        continue
                    met = row["target_met"]
                    mark = "" if met is None else (" yes" if met else " **no**")
                    line.append(f"{_fmt_speedup(row['speedup_vs_fastest_peer'])} "
                                f"({row['fastest_peer']}){mark}")
                out.append("| " + " | ".join(line) + " |")
            out.append("")
    frameworks = results.get("grid_frameworks", [])
    out += ["| point | measure | " + " | ".join(frameworks) + " | fastest peer | speed-up | met |",
            "| --- | --- |" + " --- |" * (len(frameworks) + 3)]
    for row in results["grid_rows"]:
        times = []
        for f in frameworks:
            t = row["times_s"].get(f)
            lo, hi = row["range_s"].get(f, (None, None))
            rng = f" [{_fmt_time(lo)}–{_fmt_time(hi)}]" if lo is not None and lo != hi else ""
            times.append(_fmt_time(t) + rng)
        s = row["speedup_vs_fastest_peer"]
        verdict = (row.get("target_note") or "—") if row["target_met"] is None else (
            "yes" if row["target_met"] else "no")
        out.append(f"| {row['config']} | {KINDS[row['kind']]} | " + " | ".join(times)
                   + f" | {row['fastest_peer'] or '—'} | "
                   + ("—" if s is None else _fmt_speedup(s)) + f" | {verdict} |")
    return out


def _grid_shape(results: dict) -> str:
    points = [CONFIGS[n] for n in results.get("grid_configs", [])]
    if not points:
        return ""
    c = points[0]
    return f"{c.timesteps} steps, {c.features} features, no head"


def grid_plot(results: dict, outdir: Path, stamp: str) -> str | None:
    """``grid.png``: heatmaps (batch × units) of the speed-up against the fastest peer, one
    per cell kind and measure, log-scaled colours centred on 1× (written atomically by
    ``npylstm.plots.save_figure``)."""
    if not results.get("grid_rows"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    from npylstm.plots import save_figure

    cells, batches, units = _axes(results)
    fig, axes = plt.subplots(len(cells), 2, figsize=(10, 3.6 * len(cells)), squeeze=False,
                             layout="constrained")
    norm = TwoSlopeNorm(vmin=-math.log2(4), vcenter=0.0, vmax=math.log2(4))
    image = None
    for i, cell in enumerate(cells):
        for j, kind in enumerate(("infer", "train")):
            ax = axes[i][j]
            grid = [[math.nan] * len(units) for _ in batches]
            for bi, b in enumerate(batches):
                for ui, u in enumerate(units):
                    row = _row(results, cell, b, u, kind)
                    s = None if row is None else row["speedup_vs_fastest_peer"]
                    if s:
                        grid[bi][ui] = math.log2(s)
                        ax.text(ui, bi, f"{_fmt_speedup(s)}\n{row['fastest_peer']}", ha="center",
                                va="center", fontsize=7)
            image = ax.imshow(grid, cmap="RdYlGn", norm=norm, aspect="auto")
            ax.set_xticks(range(len(units)), [str(u) for u in units])
            ax.set_yticks(range(len(batches)), [str(b) for b in batches])
            ax.set_xlabel("units")
            ax.set_ylabel("batch")
            ax.set_title(f"{cell.upper()} {KINDS[kind]}", fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.8)
        ticks = [-2, -1, 0, 1, 2]
        bar.set_ticks(ticks, labels=[f"{2.0 ** t:g}×" for t in ticks])
        bar.set_label("speed-up vs fastest peer (green: npylstm faster)")
    fig.suptitle(f"Size grid: npylstm-numba vs the fastest peer — {stamp}", fontsize=9)
    path = outdir / "grid.png"
    save_figure(fig, path, dpi=110)
    plt.close(fig)
    return str(path)


def coldstart_lines(results: dict) -> list[str]:
    cold = results.get("coldstart")
    if not cold:
        return []
    model, demo = cold.get("model", {}), cold.get("demo", {})
    if "error" in model or "skipped" in model:
        return [f"cold start: {model.get('error') or model.get('skipped')}"]

    def verdict(key: str) -> str:
        v = cold["verdicts"][key]
        sec = "—" if v["seconds"] is None else f"{v['seconds']:.2f} s"
        met = "not judged" if v["met"] is None else ("met" if v["met"] else "not met")
        return f"{sec} (target ≤ {v['target_s']:g} s: {met})"

    lines = [
        "cold start (fresh process, empty NUMBA_CACHE_DIR, the demo model "
        "LSTM(20, seq) + LSTM(20) + Dense(5), batch 32): first prediction "
        f"{verdict('first_predict_s')}; then first training step {verdict('first_train_step_s')}"
        f"; import {model.get('import_s', float('nan')):.2f} s",
        f"first `{demo.get('command', 'npylstm demo')}` (another empty cache): "
        f"{verdict('demo_s')}; load {demo.get('load_1min_before')} → "
        f"{demo.get('load_1min_after')}"
        + ("" if demo.get("default_arguments") else " — shortened quick-mode run, not the "
           "target's measurement")
        + (f"; ERROR: {demo['error']}" if "error" in demo else ""),
    ]
    return lines


def target_lines(results: dict) -> list[str]:
    """Every target of issue 15 with its figure and verdict, one line each."""
    lines = []
    for row in results.get("rows", []):
        if not row.get("target"):
            continue
        s = row["speedup_vs_fastest_peer"]
        ort = row["speedup_vs_peer"].get("onnxruntime")
        verdict = (row.get("target_note") or "not judged") if row["target_met"] is None else (
            "met" if row["target_met"] else "NOT met")
        lines.append(
            f"target {row['config']} {KINDS[row['kind']]}: "
            + ("—" if s is None else f"{_fmt_speedup(s)} vs the fastest peer "
               f"({row['fastest_peer']})")
            + ("" if ort is None else f", {_fmt_speedup(ort)} vs onnxruntime")
            + f"; {row['target_text']}: {verdict}")
    grid = [r for r in results.get("grid_rows", []) if r["speedup_vs_fastest_peer"]]
    if grid:
        worst = min(grid, key=lambda r: r["speedup_vs_fastest_peer"])
        judged = [r for r in grid if r["target_met"] is not None]
        lines.append(
            f"target size grid (≥ 1× the fastest peer at every point): "
            f"{sum(r['target_met'] for r in judged)}/{len(judged)} judged points met "
            f"({len(grid) - len(judged)} not judged); lowest "
            f"{_fmt_speedup(worst['speedup_vs_fastest_peer'])} at {worst['config']} "
            f"{KINDS[worst['kind']]} vs {worst['fastest_peer']}")
    return lines
