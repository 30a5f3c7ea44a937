"""Pictures of a recurrent layer: gates over time, the packed kernel, predictions, training curves.

Needs matplotlib, the optional ``plot`` extra (``pip install "npylstm[plot]"``); it is
imported only when a function here is called. Every function draws on a new
``matplotlib.figure.Figure`` (no pyplot state, nothing left open) and returns it: display
it in a notebook, or save it with :func:`save_figure` (atomic, as every file npylstm writes).

>>> import numpy as np, npylstm
>>> from npylstm import plots
>>> from npylstm.layers import LSTM
>>> layer = LSTM(8, return_sequences=True)
>>> traces = npylstm.trace(layer, np.ones((1, 20, 3), dtype="float32"))
>>> fig = plots.plot_gates(traces[layer.name])          # doctest: +SKIP
>>> plots.save_figure(fig, "gates.png")                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .trace import BidirectionalTrace, RecurrentTrace

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_gates", "plot_kernel", "plot_predictions", "plot_history", "save_figure"]

#: What each traced array is, for titles, per trace kind.
_TITLES = {
    "lstm": {
        "i": "input gate i = σ(z_i)",
        "f": "forget gate f = σ(z_f)",
        "g": "candidate g = φ(z_c)",
        "o": "output gate o = σ(z_o)",
        "c": "carry c = f·c_tm1 + i·g",
        "h": "output h = o·φ(c)",
    },
    "gru": {
        "z": "update gate z = σ(a_z)",
        "r": "reset gate r = σ(a_r)",
        "hh": "candidate h̃ = φ(a_h)",
        "h": "output h = z·h_tm1 + (1−z)·h̃",
    },
    "simple_rnn": {"a": "pre-activation a", "h": "output h = φ(a)"},
}
#: The fields bounded by σ (the gates) and by φ, per trace kind.
_SIGMA_FIELDS = {"lstm": ("i", "f", "o"), "gru": ("z", "r"), "simple_rnn": ()}
_PHI_FIELDS = {"lstm": ("g", "h"), "gru": ("hh", "h"), "simple_rnn": ("h",)}
_KIND_NAMES = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}
_GATE_NAMES = {
    "lstm": {"i": "input (i)", "f": "forget (f)", "c": "candidate (c)", "o": "output (o)"},
    "gru": {"z": "update (z)", "r": "reset (r)", "h": "candidate (h)"},
    "simple_rnn": {"h": "h"},
}


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


def _colour_range(layer_trace: RecurrentTrace, name: str, data: np.ndarray):
    """``(vmin, vmax, cmap)``: gates [0, 1] under a bounded σ, [-1, 1] under a bounded φ,
    else a symmetric range of the data's own."""
    sigma = getattr(layer_trace, "recurrent_activation", None)
    if name in _SIGMA_FIELDS[layer_trace.KIND] and sigma in _BOUNDED_SIGMA:
        return 0.0, 1.0, "viridis"
    if name in _PHI_FIELDS[layer_trace.KIND] and layer_trace.activation in _BOUNDED_PHI:
        return -1.0, 1.0, "RdBu_r"
    finite = data[np.isfinite(data)]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    return -(bound or 1.0), bound or 1.0, "RdBu_r"


_BOUNDED_SIGMA = ("sigmoid", "hard_sigmoid", "hard_sigmoid_keras2")
_BOUNDED_PHI = ("tanh", "softsign")


def plot_gates(
    layer_trace: RecurrentTrace | BidirectionalTrace,
    sample: int = 0,
    fields: Sequence[str] | None = None,
    max_units: int | None = 64,
) -> Figure:
    """Heatmaps of the gates over time for one sample: units on the y axis, steps on the x axis.

    Parameters
    ----------
    layer_trace : one layer's trace (``npylstm.trace(...)[name]``): an
        :class:`~npylstm.trace.LSTMTrace`, :class:`~npylstm.trace.GRUTrace`,
        :class:`~npylstm.trace.SimpleRNNTrace`, or a
        :class:`~npylstm.trace.BidirectionalTrace` (one row of panels per direction)
    sample : which batch row to show
    fields : which arrays (default: all of the trace's ``FIELDS``, e.g.
        ``("i", "f", "g", "o", "c", "h")`` for an LSTM, ``("z", "r", "hh", "h")`` for a GRU)
    max_units : show at most this many units (None: all)

    Returns
    -------
    matplotlib.figure.Figure
        Gates (σ) share the colour range [0, 1]; candidates and ``h`` use [-1, 1] under
        tanh; ``c`` and ``a`` are unbounded and get a symmetric range of their own. The x
        axis is the processing step (for a go_backwards layer, step t read input timestep
        T-1-t). Masked steps (a time mask) are hatched.
    """
    if isinstance(layer_trace, BidirectionalTrace):
        rows = [("forward", layer_trace.forward), ("backward", layer_trace.backward)]
        title = f"Bidirectional '{layer_trace.layer_name}' ({layer_trace.merge_mode})"
    elif isinstance(layer_trace, RecurrentTrace):
        rows = [(None, layer_trace)]
        title = f"{_KIND_NAMES[layer_trace.KIND]} '{layer_trace.layer_name}'"
    else:
        raise TypeError(
            "plot_gates: expected an LSTMTrace, GRUTrace, SimpleRNNTrace or BidirectionalTrace "
            f"(npylstm.trace(model, x)[layer_name]), received {type(layer_trace).__name__}"
        )
    first = rows[0][1]
    fields = first.FIELDS if fields is None else tuple(fields)
    for _, row_trace in rows:
        unknown = [f for f in fields if f not in row_trace.FIELDS]
        if unknown or not fields:
            raise ValueError(
                f"plot_gates: expected fields from {row_trace.FIELDS}, received {fields!r}"
            )
    batch = first.h.shape[0]
    if (
        isinstance(sample, bool)
        or not isinstance(sample, int | np.integer)
        or not (-batch <= sample < batch)
    ):
        raise ValueError(
            f"plot_gates: expected sample in [0, {batch}) for a batch of {batch}, "
            f"received {sample!r}"
        )
    units = max(row_trace.h.shape[2] for _, row_trace in rows)
    shown = units if max_units is None else min(units, max_units)
    if len(rows) == 1:
        ncols = min(3, len(fields))
        nrows = -(-len(fields) // ncols)
        panels = [(None, first, name) for name in fields]
    else:
        ncols, nrows = len(fields), len(rows)
        panels = [(which, row_trace, name) for which, row_trace in rows for name in fields]
    fig = _figure(figsize=(4.2 * ncols, 2.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (which, row_trace, name) in zip(axes.flat, panels, strict=False):
        data = getattr(row_trace, name)[sample, :, :shown].T  # (units, timesteps)
        vmin, vmax, cmap = _colour_range(row_trace, name, data)
        image = ax.imshow(
            data,
            aspect="auto",
            interpolation="nearest",
            origin="lower",
            vmin=vmin,
            vmax=vmax,
            cmap=cmap,
        )
        if row_trace.mask is not None:
            for step in np.flatnonzero(~row_trace.mask[sample]):
                ax.axvspan(step - 0.5, step + 0.5, facecolor="none", edgecolor="0.3",
                           hatch="//", linewidth=0)
        label = _TITLES[row_trace.KIND][name]
        ax.set_title(label if which is None else f"{which}: {label}", fontsize=10)
        ax.set_xlabel("step" + (" (reversed input)" if row_trace.go_backwards else ""))
        ax.set_ylabel("unit")
        fig.colorbar(image, ax=ax, shrink=0.9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    more = f", first {shown} of {units} units" if shown < units else ""
    masked = any(row_trace.mask is not None for _, row_trace in rows)
    fig.suptitle(f"{title}, sample {sample}{more}" + (" (hatched: masked steps)" if masked
                                                       else ""))
    return fig


def plot_kernel(layer) -> Figure:
    """The packed ``kernel`` and ``recurrent_kernel`` with the gate blocks labelled.

    Parameters
    ----------
    layer : a built ``npylstm.layers.LSTM`` (blocks i, f, c, o), ``GRU`` (z, r, h) or
        ``SimpleRNN`` (one block)

    Returns
    -------
    matplotlib.figure.Figure
        One heatmap per weight (and the bias as a strip: two rows, input and recurrent
        bias, for a GRU with ``reset_after``), columns split every ``units`` columns into
        the blocks that ``layer.cell.split`` returns.
    """
    cell = getattr(layer, "cell", None)
    if cell is None or cell.kind not in _GATE_NAMES or not getattr(layer, "built", False):
        raise TypeError(
            "plot_kernel: expected a built npylstm LSTM layer (or GRU, SimpleRNN), received "
            f"{type(layer).__name__}"
        )
    units, gates = layer.units, cell.GATES
    names = _GATE_NAMES[cell.kind]
    packed = [("kernel", layer.kernel), ("recurrent_kernel", layer.recurrent_kernel)]
    if layer.bias is not None:
        packed.append(("bias", np.atleast_2d(layer.bias)))  # (1, nU), or GRU's (2, 3U)
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
        for k in range(1, len(gates)):
            ax.axvline(k * units - 0.5, color="black", linewidth=1.5)
        shape = tuple(np.shape(layer.bias)) if wname == "bias" else tuple(array.shape)
        ax.set_ylabel(f"{wname}\n{shape}", rotation=0, ha="right", va="center", fontsize=9)
        if wname == "bias" and array.shape[0] == 2:
            ax.set_yticks([0, 1])
            ax.set_yticklabels(["input", "recurrent"], fontsize=8)
        elif wname == "bias":
            ax.set_yticks([])
        else:
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        starts = [k * units for k in range(len(gates))]
        ax.set_xticks([s + units / 2 - 0.5 for s in starts])
        ax.set_xticklabels(
            [f"{names[g]}\ncols {s}–{s + units - 1}" for g, s in zip(gates, starts, strict=True)]
            if ax is axes[0]
            else [names[g] for g in gates],
            fontsize=8,
        )
        if ax is axes[0]:
            ax.xaxis.tick_top()
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    count = {1: "one block", 3: "three gate blocks", 4: "four gate blocks"}[len(gates)]
    fig.suptitle(
        f"{_KIND_NAMES[cell.kind]} '{layer.name}': {count} of {units} columns each "
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


def save_figure(fig: Figure, path, *, dpi: float = 100, format: str | None = None) -> Path:
    """Save ``fig`` to ``path`` atomically (:func:`npylstm.io.atomic.atomic_open`): a failure
    or ``kill -9`` never leaves a half-written picture, the file gets ``open()``'s
    permissions (an existing file keeps its mode), and errors name ``path``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or PathLike
        Written under exactly this name (matplotlib's ``savefig`` would append ``.png`` to a
        name without a suffix).
    dpi : float
        Dots per inch, as ``savefig``.
    format : str, optional
        ``"png"``, ``"pdf"``, ``"svg"``, ...: by default the suffix of ``path``, else PNG.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from npylstm import plots
    >>> fig = plots.plot_history({"loss": [1.0, 0.5]})
    >>> target = plots.save_figure(fig, Path(tempfile.mkdtemp()) / "history.png")
    >>> target.read_bytes()[:4]
    b'\\x89PNG'
    """
    from .io.atomic import atomic_open

    path = Path(path)
    fmt = (format or path.suffix[1:] or "png").lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"cannot save a figure as '{path}': the format '{fmt}' is not one matplotlib "
            f"writes (expected one of {sorted(supported)})"
        )
    with atomic_open(path) as handle:
        fig.savefig(handle, dpi=dpi, format=fmt)
    return path
