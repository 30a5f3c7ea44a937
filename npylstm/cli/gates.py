"""``npylstm gates``: trace a recurrent layer's gates over time (and plot them).

Any layer :func:`npylstm.trace` records: an LSTM (i, f, g, o, c, h), a GRU (z, r, h̃, h),
a SimpleRNN (a, h), or a Bidirectional wrapper (one table, and one row of heatmaps, per
direction).

In a functional model (one ``--input`` per model input) the graph runs up to the layer's
call (``Functional._run``, inference), and the layer runs again on that call's own
arguments, mask and ``initial_state`` (the seq2seq decoder starts from the encoder's
states), so the traced ``h`` is the call's output. ``--layer NAME`` picks the layer (default
the first recurrent call in the graph's order); ``NAME#k`` the k-th call (from 0) of a
shared layer. Layers inside a nested model are not traced.
"""

from __future__ import annotations

from ._common import EXIT_OK, CLIError, out, writable
from ._load import load_any_model
from ._specs import is_functional, read_inputs

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


def _recurrent_calls(model) -> dict:
    """``{label: node}`` for every call of a recurrent layer in a functional model, in
    ``model.layers`` order (Keras's): ``NAME`` for a layer's first call, ``NAME#k`` for
    its k-th."""
    from ..trace import _is_bidirectional, _tracer_of

    calls = {}
    for layer in model.layers:
        if not (_tracer_of(layer) or _is_bidirectional(layer)):
            continue
        owned = [n for n in layer.__dict__.get("_inbound_nodes", []) if model._owns(n)]
        for k, node in enumerate(owned):
            calls[layer.name if k == 0 else f"{layer.name}#{k}"] = node
    return calls


def _trace_call(model, xs: list, node):
    """The trace of one call of a recurrent layer: the graph runs (inference) to give the
    call's arguments, masks and keyword tensors; the layer runs again on them."""
    from ..layers.base import Layer
    from ..layers.graph import KerasTensor, map_structure
    from ..trace import _bidirectional_trace, _is_bidirectional, _tracer_of

    run = model._run(model._prepare_x(xs if len(xs) > 1 else xs[0]), training=False,
                     keep=False)

    def value(t):
        return run.values[id(t)] if isinstance(t, KerasTensor) else t

    def mask(t):
        return run.masks.get(id(t)) if isinstance(t, KerasTensor) else None

    layer = node.layer
    # the layer's own forward (Layer.graph_forward: the recurrent layers' override only
    # wraps the cache) with the call's mask and initial_state
    _, cache = Layer.graph_forward(layer, map_structure(value, node.args),
                                   map_structure(value, node.kwargs),
                                   map_structure(mask, node.args), False)
    if _is_bidirectional(layer):
        return _bidirectional_trace(layer, cache)
    return _tracer_of(layer)(layer, cache)


def _sequential_traces(model, x) -> dict:
    """The traces of a Sequential whose input is not a sequence of vectors (ids into an
    Embedding: :func:`npylstm.trace` takes ``(batch, timesteps, features)``): each layer
    runs as the model runs it, each recurrent layer's pass traced from its cache."""
    from ..trace import _bidirectional_trace, _first, _is_bidirectional, _tracer_of

    traces, h, mask = {}, x, None
    for layer in model.layers:
        kwargs = {"mask": mask} if mask is not None and layer.USES_MASK else {}
        y, cache = layer.forward(h, training=False, **kwargs)
        if _tracer_of(layer) is not None:
            traces[layer.name] = _tracer_of(layer)(layer, cache)
        elif _is_bidirectional(layer):
            traces[layer.name] = _bidirectional_trace(layer, cache)
        mask = _first(layer.compute_mask(h, mask))
        h = _first(y)
    return traces


def _traces(args):
    """``(traces by label, input arrays)`` for the model file's recurrent layers."""
    import npylstm

    model = load_any_model(args.file, args.config)
    xs = read_inputs(model, args.input)
    if not is_functional(model):
        if xs[0].ndim == 3:
            return npylstm.trace(model, xs[0]), xs[0], None
        return _sequential_traces(model, xs[0]), xs[0], None
    calls = _recurrent_calls(model)
    if not calls:
        raise CLIError(f"'{args.file}' has no recurrent layer (LSTM, GRU, SimpleRNN, "
                       "Bidirectional) to trace" + (
                           " outside its nested models" if any(
                               isinstance(layer, npylstm.Model) for layer in model.layers)
                           else ""))
    name = args.layer or next(iter(calls))
    if name not in calls:
        raise CLIError(f"--layer '{name}': expected one of the recurrent layers {list(calls)}"
                       " (NAME#k: the k-th call of a shared layer)")
    node = calls[name]
    return {name: _trace_call(model, xs, node)}, xs[0], node


def _call_note(node, name: str) -> str:
    """What a functional call ran on: ``on encoder_inputs, initial_state from encoder``
    (`` call #1 on b`` for a shared layer's second call, ``--layer NAME#1``)."""
    if node is None:
        return ""
    from ..layers.graph import flatten

    names = [t.node.layer.name for t in flatten(node.args) if hasattr(t, "node")]
    head, sep, k = name.rpartition("#")
    note = f" call #{k}" if sep and head == node.layer.name else ""
    note += " on " + ", ".join(dict.fromkeys(names))
    for key, value in node.kwargs.items():
        sources = [t.node.layer.name for t in flatten(value) if hasattr(t, "node")]
        if sources:
            note += f", {key} from " + ", ".join(dict.fromkeys(sources))
    return note


def cmd_gates(args) -> int:
    from ..trace import BidirectionalTrace

    traces, x, node = _traces(args)
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
    source = "' + '".join(args.input)
    if isinstance(trace, BidirectionalTrace):
        _, timesteps, _ = trace.forward.h.shape
        out(f"Bidirectional '{name}'{_call_note(node, name)} (merge_mode {trace.merge_mode}), "
            f"sample {args.sample} of '{source}': {timesteps} timesteps (values over all steps "
            "and units; the "
            "backward layer's steps in its own reading order, last input first)")
        for which, direction in trace.directions().items():
            label, _, units = _describe(direction)
            out(f"{which}: {label}, {units} units")
            _table(direction, args.sample)
    else:
        label, timesteps, units = _describe(trace)
        out(f"{label}{_call_note(node, name)}, sample {args.sample} of '{source}': {timesteps} "
            f"timesteps, "
            f"{units} units (values over all steps and units)")
        _table(trace, args.sample)
    if args.plot:
        plot = writable(args.plot)
        from .. import plots

        fig = plots.plot_gates(trace, sample=args.sample)
        plots.save_figure(fig, plot, dpi=100)  # atomic; the format from the suffix
        out(f"Saved the gate heatmaps: {plot}")
    return EXIT_OK
