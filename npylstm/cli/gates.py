"""``npylstm gates``: trace an LSTM layer's gates over time (and plot them)."""

from __future__ import annotations

import numpy as np

from ._common import EXIT_OK, CLIError, fit_input, out, read_array, writable
from ._load import load_any_model

__all__ = ["cmd_gates"]

_GATE_ROWS = (
    ("i", "input gate  i = σ(z_i)"),
    ("f", "forget gate f = σ(z_f)"),
    ("g", "candidate   g = φ(z_c)"),
    ("o", "output gate o = σ(z_o)"),
    ("c", "carry       c"),
    ("h", "output      h"),
)


def cmd_gates(args) -> int:
    import npylstm

    model = load_any_model(args.file, args.config)
    x = fit_input(read_array(args.input), model, f"--input '{args.input}'")
    x = np.ascontiguousarray(x, dtype=model.layers[0].dtype)
    traces = npylstm.trace(model, x)
    if not traces:
        raise CLIError(f"'{args.file}' has no LSTM layer to trace")
    name = args.layer or next(iter(traces))
    if name not in traces:
        raise CLIError(f"--layer '{name}': expected one of the LSTM layers {list(traces)}")
    if not -len(x) <= args.sample < len(x):
        raise CLIError(f"--sample {args.sample}: the input has {len(x)} sample(s)")
    trace = traces[name]
    _, timesteps, units = trace.h.shape
    out(f"LSTM '{name}', sample {args.sample} of '{args.input}': {timesteps} timesteps, "
        f"{units} units (values over all steps and units)")
    out(f"{'':<26}{'mean':>9}{'min':>9}{'max':>9}   {'first step':>10}{'last step':>10}")
    for key, label in _GATE_ROWS:
        a = getattr(trace, key)[args.sample]  # (timesteps, units)
        out(f"{label:<26}{a.mean():>9.3f}{a.min():>9.3f}{a.max():>9.3f}   "
            f"{a[0].mean():>10.3f}{a[-1].mean():>10.3f}")
    if args.plot:
        plot = writable(args.plot)
        from .. import plots

        fig = plots.plot_gates(trace, sample=args.sample)
        fig.savefig(plot, dpi=100)
        out(f"Saved the gate heatmaps: {plot}")
    return EXIT_OK
