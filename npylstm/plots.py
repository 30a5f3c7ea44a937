"""Pictures of an LSTM: gates over time, the packed kernel, predictions, training curves.

Needs matplotlib, the optional ``plot`` extra (``pip install "npylstm[plot]"``); it is
imported only when a function here is called. Every function draws on a new
``matplotlib.figure.Figure`` (no pyplot state, nothing left open) and returns it: display
it in a notebook, or ``fig.savefig("gates.png")``.

>>> import numpy as np, npylstm
>>> from npylstm import plots
>>> from npylstm.layers import LSTM
>>> layer = LSTM(8, return_sequences=True)
>>> traces = npylstm.trace(layer, np.ones((1, 20, 3), dtype="float32"))
>>> fig = plots.plot_gates(traces[layer.name])          # doctest: +SKIP
>>> fig.savefig("gates.png")                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .gates import GATES
from .trace import TRACE_FIELDS, LSTMTrace

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_gates", "plot_kernel", "plot_predictions", "plot_history"]

#: What each traced array is, for titles.
_TITLES = {
    "i": "input gate i = σ(z_i)",
    "f": "forget gate f = σ(z_f)",
    "g": "candidate g = φ(z_c)",
    "o": "output gate o = σ(z_o)",
    "c": "carry c = f·c_tm1 + i·g",
    "h": "output h = o·φ(c)",
}
_GATE_NAMES = {"i": "input (i)", "f": "forget (f)", "c": "candidate (c)", "o": "output (o)"}


def _figure(**kwargs) -> Figure:
    """A new Figure, importing matplotlib on first use with a clear message if it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # tests/test_plots.py hides matplotlib to check this message
        raise ImportError(
            "npylstm.plots needs matplotlib, which is not installed: "
            'pip install "npylstm[plot]" (or pip install matplotlib)'
        ) from exc
    return Figure(**kwargs)


def plot_gates(
    layer_trace: LSTMTrace,
    sample: int = 0,
    fields: Sequence[str] = TRACE_FIELDS,
    max_units: int | None = 64,
) -> Figure:
    """Heatmaps of the gates over time for one sample: units on the y axis, steps on the x axis.

    Parameters
    ----------
    layer_trace : one layer's :class:`~npylstm.trace.LSTMTrace` (``npylstm.trace(...)[name]``)
    sample : which batch row to show
    fields : which arrays, from ``("i", "f", "g", "o", "c", "h")``
    max_units : show at most this many units (None: all)

    Returns
    -------
    matplotlib.figure.Figure
        Gates (σ) share the colour range [0, 1]; ``g`` and ``h`` use [-1, 1]; ``c`` is
        unbounded and gets a symmetric range of its own. The x axis is the processing
        step (for a go_backwards layer, step t read input timestep T-1-t).
    """
    if not isinstance(layer_trace, LSTMTrace):
        raise TypeError(
            "plot_gates: expected an LSTMTrace (npylstm.trace(model, x)[layer_name]), "
            f"received {type(layer_trace).__name__}"
        )
    fields = tuple(fields)
    unknown = [f for f in fields if f not in TRACE_FIELDS]
    if unknown or not fields:
        raise ValueError(f"plot_gates: expected fields from {TRACE_FIELDS}, received {fields!r}")
    batch = layer_trace.h.shape[0]
    if (
        isinstance(sample, bool)
        or not isinstance(sample, int | np.integer)
        or not (-batch <= sample < batch)
    ):
        raise ValueError(
            f"plot_gates: expected sample in [0, {batch}) for a batch of {batch}, "
            f"received {sample!r}"
        )
    units = layer_trace.h.shape[2]
    shown = units if max_units is None else min(units, max_units)
    ncols = min(3, len(fields))
    nrows = -(-len(fields) // ncols)
    fig = _figure(figsize=(4.2 * ncols, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    sigma_bounded = layer_trace.recurrent_activation in (
        "sigmoid",
        "hard_sigmoid",
        "hard_sigmoid_keras2",
    )
    phi_bounded = layer_trace.activation in ("tanh", "softsign")
    for ax, name in zip(axes.flat, fields, strict=False):
        data = getattr(layer_trace, name)[sample, :, :shown].T  # (units, timesteps)
        if name in ("i", "f", "o") and sigma_bounded:
            vmin, vmax, cmap = 0.0, 1.0, "viridis"
        elif name in ("g", "h") and phi_bounded:
            vmin, vmax, cmap = -1.0, 1.0, "RdBu_r"
        else:
            finite = data[np.isfinite(data)]
            bound = float(np.max(np.abs(finite))) if finite.size else 1.0
            vmin, vmax, cmap = -(bound or 1.0), bound or 1.0, "RdBu_r"
        image = ax.imshow(
            data,
            aspect="auto",
            interpolation="nearest",
            origin="lower",
            vmin=vmin,
            vmax=vmax,
            cmap=cmap,
        )
        ax.set_title(_TITLES[name], fontsize=10)
        ax.set_xlabel("step" + (" (reversed input)" if layer_trace.go_backwards else ""))
        ax.set_ylabel("unit")
        fig.colorbar(image, ax=ax, shrink=0.9)
    for ax in list(axes.flat)[len(fields) :]:
        ax.set_visible(False)
    more = f", first {shown} of {units} units" if shown < units else ""
    fig.suptitle(f"LSTM '{layer_trace.layer_name}', sample {sample}{more}")
    return fig


def plot_kernel(layer) -> Figure:
    """The packed ``kernel`` and ``recurrent_kernel`` with the four gate blocks labelled.

    Parameters
    ----------
    layer : a built ``npylstm.layers.LSTM``

    Returns
    -------
    matplotlib.figure.Figure
        One heatmap per weight (and the bias as a strip), columns split at
        ``units, 2·units, 3·units`` into the i, f, c, o blocks that
        :func:`npylstm.gates.split_gates` returns.
    """
    weights = getattr(layer, "gate_weights", None)
    if weights is None or not getattr(layer, "built", False):
        raise TypeError(
            f"plot_kernel: expected a built npylstm LSTM layer, received {type(layer).__name__}"
        )
    units = layer.units
    packed = [("kernel", layer.kernel), ("recurrent_kernel", layer.recurrent_kernel)]
    if layer.bias is not None:
        packed.append(("bias", layer.bias[None, :]))
    heights = [max(a.shape[0], 1) for _, a in packed]
    heights = [max(h, 0.12 * max(heights)) for h in heights]  # a thin bias stays visible
    fig = _figure(figsize=(10, 1.2 + 0.9 * len(packed) + 0.04 * sum(heights)), layout="constrained")
    from matplotlib.ticker import MaxNLocator  # after _figure: matplotlib is there

    axes = fig.subplots(len(packed), 1, squeeze=False, height_ratios=heights)[:, 0]
    bound = max(float(np.max(np.abs(a))) for _, a in packed) or 1.0
    for ax, (wname, array) in zip(axes, packed, strict=True):
        image = ax.imshow(
            array, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-bound, vmax=bound
        )
        for k in range(1, 4):
            ax.axvline(k * units - 0.5, color="black", linewidth=1.5)
        shape = tuple(array.shape) if wname != "bias" else (array.shape[1],)
        ax.set_ylabel(f"{wname}\n{shape}", rotation=0, ha="right", va="center", fontsize=9)
        if wname == "bias":
            ax.set_yticks([])
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        starts = [k * units for k in range(4)]
        ax.set_xticks([s + units / 2 - 0.5 for s in starts])
        ax.set_xticklabels(
            [
                f"{_GATE_NAMES[g]}\ncols {s}–{s + units - 1}"
                for g, s in zip(GATES, starts, strict=True)
            ]
            if ax is axes[0]
            else [_GATE_NAMES[g] for g in GATES],
            fontsize=8,
        )
        if ax is axes[0]:
            ax.xaxis.tick_top()
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.suptitle(
        f"LSTM '{layer.name}': four gate blocks of {units} columns each "
        f"(input_dim {layer.input_dim}, units {units})"
    )
    return fig


def plot_predictions(
    y_true,
    y_pred,
    x=None,
    samples: Sequence[int] = (0,),
) -> Figure:
    """Predicted continuations against the truth for a few samples of a time series.

    Parameters
    ----------
    y_true, y_pred : (samples, n_output) arrays, the true and predicted next values
    x : (samples, timesteps) or (samples, timesteps, 1), the input window, drawn before
        the continuation (optional)
    samples : which rows to draw, one panel each

    Returns
    -------
    matplotlib.figure.Figure
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.shape != y_pred.shape or y_true.ndim != 2:
        raise ValueError(
            "plot_predictions: expected y_true and y_pred of the same shape (samples, "
            f"n_output), received {y_true.shape} and {y_pred.shape}"
        )
    if x is not None:
        x = np.asarray(x, dtype=float)
        if x.ndim == 3 and x.shape[2] == 1:
            x = x[:, :, 0]
        if x.ndim != 2 or len(x) != len(y_true):
            raise ValueError(
                "plot_predictions: expected x of shape (samples, timesteps[, 1]) with "
                f"{len(y_true)} samples, received {x.shape}"
            )
    samples = list(samples)
    bad = [s for s in samples if not -len(y_true) <= s < len(y_true)]
    if bad or not samples:
        raise ValueError(
            f"plot_predictions: expected sample indices in [0, {len(y_true)}), received {samples}"
        )
    fig = _figure(
        figsize=(5.5 * min(len(samples), 3), 3.4 * -(-len(samples) // 3)), layout="constrained"
    )
    axes = fig.subplots(-(-len(samples) // 3), min(len(samples), 3), squeeze=False)
    start = 0 if x is None else x.shape[1]
    steps = np.arange(start, start + y_true.shape[1])
    for ax, s in zip(axes.flat, samples, strict=False):
        if x is not None:
            ax.plot(np.arange(x.shape[1]), x[s], color="0.6", label="input")
        ax.plot(steps, y_true[s], "o-", color="tab:blue", label="truth")
        ax.plot(steps, y_pred[s], "x--", color="tab:red", label="prediction")
        ax.set_title(f"sample {s}: MAE {np.mean(np.abs(y_true[s] - y_pred[s])):.4f}", fontsize=10)
        ax.set_xlabel("timestep")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(samples) :]:
        ax.set_visible(False)
    return fig


def plot_history(history) -> Figure:
    """Training curves from a History (what ``fit`` returns) or its ``.history`` dict.

    Each metric gets one panel, with its ``val_`` twin drawn in the same panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping) or not logs:
        raise ValueError(
            "plot_history: expected a History from fit() or a non-empty dict of lists, "
            f"received {type(history).__name__}"
        )
    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    fig = _figure(figsize=(5 * len(names), 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        for key, style in ((name, "o-"), (f"val_{name}", "s--")):
            if key in logs:
                values = np.asarray(logs[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend(fontsize=8)
    return fig
