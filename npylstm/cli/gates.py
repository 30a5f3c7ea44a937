"""``npylstm gates``: trace a recurrent layer's gates over time (and plot them).

Any layer :func:`npylstm.trace` records: an LSTM (i, f, g, o, c, h), a GRU (z, r, h̃, h),
a SimpleRNN (a, h), or a Bidirectional wrapper (one table, and one row of heatmaps, per
direction).
"""

from __future__ import annotations

import numpy as np

from ._common import EXIT_OK, CLIError, fit_input, out, read_array, writable
from ._load import load_any_model

__all__ = ["cmd_gates"]

#: The rows of the table, per trace kind: (field, label).
_GATE_ROWS = {
    "lstm": (
        ("i", "input gate  i = σ(z_i)"),
        ("f", "forget gate f = σ(z_f)"),
        ("g", "candidate   g = φ(z_c)"),
        ("o", "output gate o = σ(z_o)"),
        ("c", "carry       c"),
        ("h", "output      h"),
    ),
    "gru": (
        ("z", "update gate z = σ(a_z)"),
        ("r", "reset gate  r = σ(a_r)"),
        ("hh", "candidate   h̃ = φ(a_h)"),
        ("h", "output      h"),
    ),
    "simple_rnn": (
        ("a", "pre-activation a"),
        ("h", "output      h = φ(a)"),
    ),
}
_KIND_NAMES = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "SimpleRNN"}


def _table(trace, sample: int) -> None:
    """Mean, min and max over all steps and units, and the first and last steps' means."""
    out(f"{'':<26}{'mean':>9}{'min':>9}{'max':>9}   {'first step':>10}{'last step':>10}")
    for key, label in _GATE_ROWS[trace.KIND]:
        a = getattr(trace, key)[sample]  # (timesteps, units)
        out(f"{label:<26}{a.mean():>9.3f}{a.min():>9.3f}{a.max():>9.3f}   "
            f"{a[0].mean():>10.3f}{a[-1].mean():>10.3f}")
    if trace.mask is not None:
        masked = int((~trace.mask[sample]).sum())
        out(f"{'':<26}masked steps (states carried): {masked} of {trace.mask.shape[1]}")


def _describe(trace) -> tuple[str, int, int]:
    _, timesteps, units = trace.h.shape
    return (f"{_KIND_NAMES[trace.KIND]} '{trace.layer_name}'", timesteps, units)


def cmd_gates(args) -> int:
    import npylstm

    from ..trace import BidirectionalTrace

    model = load_any_model(args.file, args.config)
    x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
    x = np.ascontiguousarray(x, dtype=model.layers[0].dtype)
    traces = npylstm.trace(model, x)
    if not traces:
        raise CLIError(f"'{args.file}' has no recurrent layer (LSTM, GRU, SimpleRNN, "
                       "Bidirectional) to trace")
    name = args.layer or next(iter(traces))
    if name not in traces:
        kinds = {type(t).__name__ for t in traces.values()}
        which = "LSTM layers" if kinds == {"LSTMTrace"} else "recurrent layers"
        raise CLIError(f"--layer '{name}': expected one of the {which} {list(traces)}")
    if not -len(x) <= args.sample < len(x):
        raise CLIError(f"--sample {args.sample}: the input has {len(x)} sample(s)")
    trace = traces[name]
    if isinstance(trace, BidirectionalTrace):
        _, timesteps, _ = trace.forward.h.shape
        out(f"Bidirectional '{name}' (merge_mode {trace.merge_mode}), sample {args.sample} of "
            f"'{args.input}': {timesteps} timesteps (values over all steps and units; the "
            "backward layer's steps in its own reading order, last input first)")
        for which, direction in trace.directions().items():
            label, _, units = _describe(direction)
            out(f"{which}: {label}, {units} units")
            _table(direction, args.sample)
    else:
        label, timesteps, units = _describe(trace)
        out(f"{label}, sample {args.sample} of '{args.input}': {timesteps} timesteps, "
            f"{units} units (values over all steps and units)")
        _table(trace, args.sample)
    if args.plot:
        plot = writable(args.plot)
        from .. import plots

        fig = plots.plot_gates(trace, sample=args.sample)
        fig.savefig(plot, dpi=100)
        out(f"Saved the gate heatmaps: {plot}")
    return EXIT_OK
