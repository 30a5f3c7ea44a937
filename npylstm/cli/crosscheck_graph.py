"""``npylstm crosscheck`` on a functional model: every layer call's outputs, every model
output, and with ``--grad`` the gradients of every weight and float input, against real
Keras.

Per layer call: Keras builds a probe model over the same inputs whose outputs are every
intermediate tensor (``keras.Model(km.inputs, [node outputs])``, after Keras's own
``keras/src/ops/function.py`` node bookkeeping: a layer's nodes in ``km`` are those whose
``make_node_key`` is in ``km._nodes``); npylstm runs its graph once
(``Functional._run(xs, training=False, keep=False)``) and reads each call's outputs from
``run.values``. A shared layer has one row per call (``name#k``), a layer returning
several tensors one row per tensor (``name[i]``). Masks travel along both graphs as each
model carries them (Keras: the symbolic ``_keras_mask`` of each tensor, which the probe
model outputs too); a tensor with a mask on either side gets a ``mask of ...`` row (1 at
real steps), and a mask on one side only is a failure.

Random inputs: N(0, 1) floats for float inputs; for integer inputs, ids in
``[0, input_dim)`` when the input feeds an Embedding (every Embedding it feeds: the smallest
``input_dim``), else small non-negative integers ``[0, 10)``.
"""

from __future__ import annotations

import numpy as np

from ._common import CLIError, fmt_shape, out
from ._specs import input_specs, read_inputs

__all__ = ["graph_inputs", "graph_rows", "random_ids"]

#: The range of random ids for an integer input no Embedding reads.
SMALL_INTS = 10


def _id_range(model, tensor) -> tuple[int, str]:
    """``(high, why)``: random ids for integer input ``tensor`` (None: a Sequential's input)
    are drawn in ``[0, high)``."""
    from ..layers import Embedding

    if tensor is None:  # a Sequential's one input: its first layer reads it
        dims = [layer.input_dim for layer in model.layers[:1] if isinstance(layer, Embedding)]
    else:
        dims = [node.layer.input_dim for node in model._nodes
                if not node.is_input and isinstance(node.layer, Embedding)
                and any(t is tensor for t in node.input_tensors)]
    if dims:
        return min(dims), "the Embedding's input_dim"
    return SMALL_INTS, "small non-negative integers"


def random_ids(model, spec, tensor, samples: int, shape: list, rng) -> tuple[np.ndarray, str]:
    """Random ids for one integer input, and how they were drawn."""
    high, why = _id_range(model, tensor)
    ids = rng.integers(0, high, size=(samples, *shape)).astype(spec.dtype)
    return ids, f"ids in [0, {high}) ({why})"


def graph_inputs(model, args, rng) -> tuple[list[np.ndarray], str]:
    """The inputs to compare on, one per model input, and how they were made."""
    if args.input is not None:
        xs = read_inputs(model, args.input)
        return xs, f"the {len(xs[0])} samples of " + ", ".join(f"'{p}'" for p in args.input)
    if args.samples < 1:
        raise CLIError(f"--samples: expected an integer >= 1, received {args.samples}")
    xs, parts = [], []
    for spec, tensor in zip(input_specs(model), model.inputs, strict=True):
        shape = [args.timesteps if d is None else d for d in spec.shape[1:]]
        if spec.integer:
            ids, how = random_ids(model, spec, tensor, args.samples, shape, rng)
            xs.append(ids)
            parts.append(f"'{spec.name}' {how} of shape {fmt_shape(shape)}")
        else:
            xs.append(rng.normal(size=(args.samples, *shape)).astype(spec.dtype))
            parts.append(f"'{spec.name}' N(0, 1) of shape {fmt_shape(shape)}")
    return xs, (f"{args.samples} random samples (seed {args.seed}): " + "; ".join(parts))


def _owned(layer, keep) -> list:
    return [n for i, n in enumerate(layer.__dict__.get("_inbound_nodes", [])) if keep(i, n)]


def _keras_nodes(km, keras_layer) -> list:
    """The nodes of ``keras_layer`` that belong to ``km`` (Keras's ``make_node_key``)."""
    return _owned(keras_layer, lambda i, n: f"{id(keras_layer)}_ib-{i}" in km._nodes)


def _pairs(model, km) -> tuple[list, list]:
    """``(row label, our tensor, Keras tensor)`` for every output of every layer call; and
    for each call of a Bidirectional on one tensor, ``(index of its last row, layer, Keras
    layer, our input tensor, Keras input tensor)`` for its per-direction rows."""
    from ..layers.graph import KerasTensor

    pairs, directions = [], []
    for layer in model.layers:
        ours = _owned(layer, lambda i, n: model._owns(n))
        if not ours or ours[0].is_input:
            continue
        try:
            keras_layer = km.get_layer(layer.name)
        except ValueError as exc:
            raise CLIError(f"Keras's model has no layer '{layer.name}'") from exc
        theirs = _keras_nodes(km, keras_layer)
        if len(theirs) != len(ours):
            raise CLIError(f"layer '{layer.name}' is called {len(ours)} time(s) in npylstm, "
                           f"{len(theirs)} in Keras")
        for k, (node, keras_node) in enumerate(zip(ours, theirs, strict=True)):
            if len(node.outputs) != len(keras_node.outputs):
                raise CLIError(f"layer '{layer.name}' returns {len(node.outputs)} tensor(s) "
                               f"in npylstm, {len(keras_node.outputs)} in Keras")
            label = f"{layer.name}{'' if k == 0 else f'#{k}'}"
            several = len(node.outputs) > 1
            for i, (t, kt) in enumerate(zip(node.outputs, keras_node.outputs, strict=True)):
                name = f"{label}[{i}]" if several else label
                pairs.append((f"{name} ({type(layer).__name__})", t, kt))
            keras_args = keras_node.arguments.args
            if (hasattr(layer, "forward_layer") and not node.kwargs and len(node.args) == 1
                    and isinstance(node.args[0], KerasTensor) and len(keras_args) == 1):
                directions.append((len(pairs) - 1, layer, keras_layer, node.args[0],
                                   keras_args[0]))
    return pairs, directions


def _keras_names(tensors) -> list[str]:
    return [t._keras_history.operation.name for t in tensors]


def _keras_order(model, km, xs: list) -> list:
    """``xs`` (npylstm's input order) in the order of Keras's inputs, by input name."""
    theirs = _keras_names(km.inputs)
    if sorted(theirs) != sorted(model.input_names):
        raise CLIError(f"Keras's model has the inputs {theirs}, npylstm's {model.input_names}")
    by_name = dict(zip(model.input_names, xs, strict=True))
    return [by_name[name] for name in theirs]


def _keras_struct(keras, km, flat: list):
    return keras.tree.pack_sequence_as(km._inputs_struct, flat)


def _keras_output_order(model, km) -> list[int]:
    """For each npylstm output, the index of the same output among Keras's."""
    theirs = _keras_names(km.outputs)
    if theirs == model.output_names:
        return list(range(len(theirs)))
    if sorted(theirs) != sorted(model.output_names) or len(set(theirs)) < len(theirs):
        raise CLIError(f"Keras's model has the outputs {theirs}, npylstm's "
                       f"{model.output_names}")
    return [theirs.index(name) for name in model.output_names]


def graph_rows(keras, model, km, xs: list, args, diff, to_numpy):
    """``(rows, grad rows)`` for a functional model: each row ``(label, shape, abs, rel)``."""
    if not hasattr(km, "_nodes") or not hasattr(km, "_inputs_struct"):
        raise CLIError(f"Keras loaded a {type(km).__name__}, not a functional model")
    kxs = _keras_struct(keras, km, _keras_order(model, km, xs))
    pairs, directions = _pairs(model, km)
    # the probe's outputs: every call's tensors, then their Keras masks, then each
    # Bidirectional call's input and its mask
    tensors = [kt for _, _, kt in pairs]
    masks = {i: len(tensors) + n for n, i in enumerate(
        i for i, (_, _, kt) in enumerate(pairs) if getattr(kt, "_keras_mask", None) is not None)}
    tensors += [pairs[i][2]._keras_mask for i in masks]
    inputs = {}
    for n, (_, _, _, _, kt) in enumerate(directions):
        inputs[n] = (len(tensors), len(tensors) + 1 if _mask_of(kt) is not None else None)
        tensors += [kt] + ([kt._keras_mask] if _mask_of(kt) is not None else [])
    probed = probe_values(keras, km, tensors, kxs)
    run = model._run(model._prepare_x(xs if len(xs) > 1 else xs[0]), training=False,
                     keep=False)
    rows = []
    after = {index: n for n, (index, *_) in enumerate(directions)}
    for i, (label, t, _) in enumerate(pairs):
        ours = run.values[id(t)]
        rows.append((label, fmt_shape(np.shape(ours)), *diff(ours, to_numpy(keras, probed[i]))))
        row = _mask_row(label, run.masks.get(id(t)), probed[masks[i]] if i in masks else None,
                        keras, diff, to_numpy)
        if row is not None:
            rows.append(row)
        if i in after:  # a Bidirectional's directions, each inner layer on the call's input
            from .crosscheck import _direction_rows

            _, layer, keras_layer, t_in, _ = directions[after[i]]
            value, mask = inputs[after[i]]
            rows += _direction_rows(keras, layer, keras_layer, run.values[id(t_in)],
                                    to_numpy(keras, probed[value]), run.masks.get(id(t_in)),
                                    None if mask is None else to_numpy(keras, probed[mask]))
    predicted = km(kxs, training=False)
    predicted = keras.tree.flatten(predicted)
    ys = [run.values[id(t)] for t in model.outputs]
    order = _keras_output_order(model, km)
    for name, y, index in zip(model.output_names, ys, order, strict=True):
        rows.append((f"output {name}", fmt_shape(y.shape),
                     *diff(y, to_numpy(keras, predicted[index]))))
    grad_rows = _grad_rows(keras, model, km, xs, ys, order, args, diff) if args.grad else []
    return rows, grad_rows


def _mask_of(tensor):
    return getattr(tensor, "_keras_mask", None)


def probe_values(keras, km, tensors: list, kxs) -> list:
    """The values of Keras tensors of ``km``'s graph on inputs ``kxs`` (a probe model)."""
    probe = keras.Model(km.inputs, tensors)
    values = probe(kxs, training=False)
    return list(values) if isinstance(values, list | tuple) else [values]


def _mask_row(label: str, ours, theirs, keras, diff, to_numpy):
    """``mask of <label>``: the two masks (1 at real steps), or a failing row when only one
    side has a mask (None when neither has)."""
    if ours is None and theirs is None:
        return None
    name = "  mask of " + label.split(" (")[0]
    if ours is None or theirs is None:
        which = "npylstm" if theirs is None else "Keras"
        return (f"{name} (only {which} has one)", "", float("inf"), float("inf"))
    ours = np.asarray(ours, dtype=np.float64)
    return (name, fmt_shape(ours.shape),
            *diff(ours, np.asarray(to_numpy(keras, theirs), dtype=np.float64)))


def _grad_rows(keras, model, km, xs, ys, order, args, diff):
    """Gradients of ``sum_k mean(output_k * r_k)``, ``r_k ~ N(0, 1)``, for every weight and
    every float input: Keras through ``stateless_call`` and ``jax.grad``, npylstm through
    its graph's backward (``Functional._backward_run``)."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise CLIError(f"crosscheck --grad needs KERAS_BACKEND=jax, found '{backend}'")
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(args.seed + 1)
    cotangents = [rng.normal(size=y.shape) for y in ys]
    kflat = _keras_order(model, km, xs)
    floats = [i for i, x in enumerate(kflat) if np.issubdtype(x.dtype, np.floating)]
    trainable = [v.value for v in km.trainable_variables]
    non_trainable = [v.value for v in km.non_trainable_variables]
    rs = [None] * len(ys)
    for r, index in zip(cotangents, order, strict=True):
        rs[index] = jnp.asarray(r)

    def objective(weights, float_inputs):
        flat = list(kflat)
        for i, x in zip(floats, float_inputs, strict=True):
            flat[i] = x
        y, _ = km.stateless_call(weights, non_trainable, _keras_struct(keras, km, flat),
                                 training=False)
        return sum(jnp.mean(a * r) for a, r in zip(keras.tree.flatten(y), rs, strict=True))

    dweights, dfloats = jax.grad(objective, argnums=(0, 1))(
        trainable, [jnp.asarray(kflat[i]) for i in floats])
    keras_names = _keras_names(km.inputs)
    keras_dx = {keras_names[i]: np.asarray(g) for i, g in zip(floats, dfloats, strict=True)}
    by_id = {id(v): np.asarray(g) for v, g in zip(km.trainable_variables, dweights, strict=True)}

    prepared = model._prepare_x(xs if len(xs) > 1 else xs[0])
    run = model._run(prepared if isinstance(prepared, list) else [prepared], training=False,
                     keep=True)
    dys = [(r / r.size).astype(y.dtype) for r, y in zip(cotangents, ys, strict=True)]
    layer_grads, dxs = model._backward_run(dys, run)
    rows = []
    for name, dx in zip(model.input_names, dxs, strict=True):
        if name in keras_dx:
            ours = np.zeros_like(keras_dx[name]) if dx is None else dx
            rows.append((f"input {name}", fmt_shape(ours.shape), *diff(ours, keras_dx[name])))
    for layer in model.layers:
        weights = list(getattr(layer, "parameter_weights", []))
        if not weights or not layer.trainable:  # a frozen layer: Keras trains none
            continue
        theirs = [by_id[id(v)] for v in km.get_layer(layer.name).trainable_weights]
        grads = layer_grads.get(layer) if layer in layer_grads else None
        grads = [np.zeros_like(w.value) for w in weights] if grads is None else grads
        if len(theirs) != len(grads):
            raise CLIError(f"layer '{layer.name}': {len(grads)} trainable weights in npylstm, "
                           f"{len(theirs)} in Keras")
        for label, g, k in zip(_labels(layer), grads, theirs, strict=True):
            rows.append((label, fmt_shape(np.shape(g)), *diff(g, k)))
    return rows


def _labels(layer) -> list[str]:
    """``layer/weight`` per trainable weight; ``layer/direction_layer/weight`` in a
    Bidirectional."""
    inner = [getattr(layer, a, None) for a in ("forward_layer", "backward_layer")]
    if all(i is not None for i in inner):
        return [f"{layer.name}/{i.name}/{w.name}" for i in inner for w in i.parameter_weights]
    return [f"{layer.name}/{w.name}" for w in layer.parameter_weights]


def say_graph(model) -> None:
    """One line naming the inputs and outputs being compared."""
    specs = input_specs(model)
    out("inputs: " + ", ".join(s.label() for s in specs) + "; outputs: "
        + ", ".join(f"'{n}'" for n in model.output_names))
