"""``npylstm crosscheck``: run a file in real Keras and in npylstm, compare every layer's
output (and with ``--grad`` the gradients); exit status 1 above ``--atol``.

Masks flow as in the models: each layer is called with the mask its predecessors made
(npylstm's ``compute_mask`` on one side, Keras's own on the other), so a ``Masking`` model
is checked with its padding. A ``Bidirectional`` layer also gets a row per direction (its
forward and backward layers' own outputs). Before anything runs, the command says which
Keras version's rules it read the file with (Keras 2's ``hard_sigmoid``, the GRU
``reset_after`` default).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from ._common import (
    EXIT_MISMATCH,
    EXIT_OK,
    CLIError,
    existing,
    fmt_shape,
    import_keras,
    one_line,
    out,
    quiet_keras,
)
from ._load import load_any_model
from ._rules import file_keras_version, is_keras2, keras_rules
from ._specs import input_specs, is_functional, read_inputs

__all__ = ["cmd_crosscheck"]


def _load_keras_model(keras, path: Path, config: str | None, keras2: bool = False):
    """The same model in real Keras (compile=False); ``keras2``: the file is Keras 2's."""
    from .. import io

    with quiet_keras():
        if io.file_kind(path) in io.STATE_DICTS:
            raise CLIError(
                "crosscheck reads Keras files; convert the state dict first "
                "(npylstm convert SRC model.keras --config MODEL)"
            )
        try:
            if config is None:
                return keras.saving.load_model(path, compile=False)
            config_path = Path(config)
            if config_path.suffix.lower() in (".keras", ".h5"):
                model = keras.saving.load_model(config_path, compile=False)
            else:
                model = keras.models.model_from_json(config_path.read_text(encoding="utf-8"))
            model.load_weights(path)
            return model
        except (ValueError, TypeError, OSError) as exc:
            raise CLIError(
                f"Keras {keras.__version__} cannot load '{path}'"
                + (f" with --config '{config}'" if config else "") + f": {one_line(exc)}"
                + (" (Keras 3 does not read Keras 2 layer configs; the rules above are how "
                   "npylstm read it)" if keras2 else "")
            ) from exc


def _diff(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """Largest absolute difference, and that divided by the largest |Keras value|."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        raise CLIError(f"npylstm gave shape {ours.shape}, Keras {theirs.shape}")
    if ours.size == 0:
        return 0.0, 0.0
    both_nan = np.isnan(ours) & np.isnan(theirs)
    abs_diff = float(np.max(np.where(both_nan, 0.0, np.abs(ours - theirs))))
    scale = float(np.max(np.abs(theirs))) if np.isfinite(theirs).all() else np.inf
    return abs_diff, (abs_diff / scale if scale > 0 else abs_diff)


def _keras_grads(keras, keras_model, x: np.ndarray, cotangent: np.ndarray):
    """d mean(output * r) / d (weights, x) in Keras, JAX backend."""
    backend = keras.backend.backend()
    if backend != "jax":
        raise CLIError(f"crosscheck --grad needs KERAS_BACKEND=jax, found '{backend}'")
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in keras_model.trainable_variables]
    non_trainable = [v.value for v in keras_model.non_trainable_variables]
    r = jnp.asarray(cotangent)

    def objective(weights, inputs):
        y, _ = keras_model.stateless_call(weights, non_trainable, inputs, training=False)
        return jnp.mean(y * r)

    if np.issubdtype(x.dtype, np.integer):  # ids: no gradient
        dweights, dx = jax.grad(objective)(trainable, jnp.asarray(x)), None
    else:
        dweights, dx = jax.grad(objective, argnums=(0, 1))(trainable, jnp.asarray(x))
    by_id = {id(v): np.asarray(g) for v, g in zip(keras_model.trainable_variables, dweights,
                                                   strict=True)}
    per_layer = [[by_id[id(v)] for v in layer.trainable_weights] for layer in keras_model.layers]
    return (None if dx is None else np.asarray(dx)), per_layer


def _our_grads(model, x: np.ndarray, cotangent: np.ndarray):
    """d mean(output * r) / d (weights, x) in npylstm: each layer's backward, last to first
    (the forward passes each layer the mask its predecessors made, as the model does)."""
    h, caches, mask = x, [], None
    for layer in model.layers:
        out_, cache = layer.forward(h, training=False, **_our_mask_kwargs(layer, mask))
        mask = layer.compute_mask(h, mask)
        h = out_
        caches.append(cache)
    dy = (cotangent / cotangent.size).astype(h.dtype)  # d mean(y * r) / dy
    grads = []
    for layer, cache in zip(reversed(model.layers), reversed(caches), strict=True):
        dy, layer_grads = layer.backward(dy, cache)
        grads.append(layer_grads)
    return dy, grads[::-1]


def _our_mask_kwargs(layer, mask) -> dict:
    return {"mask": mask} if mask is not None and layer.USES_MASK else {}


def _keras_mask_kwargs(keras_layer, mask) -> dict:
    if mask is None or "mask" not in inspect.signature(keras_layer.call).parameters:
        return {}
    return {"mask": mask}


def _keras_next_mask(keras, keras_layer, inputs, mask):
    """Keras's own output mask of ``keras_layer`` (``compute_mask``), as NumPy or None."""
    if not (mask is not None or type(keras_layer).__name__ == "Masking"
            or getattr(keras_layer, "mask_zero", False)):  # Embedding(mask_zero=True)
        return None
    new = keras_layer.compute_mask(inputs, mask)
    if isinstance(new, list | tuple):
        new = new[0]
    return None if new is None else np.asarray(keras.ops.convert_to_numpy(new))


def _to_numpy(keras, value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value))


def _direction_rows(keras, layer, keras_layer, ours_in, theirs_in, our_mask, keras_mask):
    """A row per direction of a Bidirectional layer: its inner layers run alone on the
    layer's input (the backward layer's outputs in its own, reversed, order)."""
    rows = []
    for attr in ("forward_layer", "backward_layer"):
        inner, keras_inner = getattr(layer, attr), getattr(keras_layer, attr)
        ours, _ = inner.forward(ours_in, training=False, **_our_mask_kwargs(inner, our_mask))
        theirs = keras_inner(theirs_in, training=False,
                             **_keras_mask_kwargs(keras_inner, keras_mask))
        ours = ours[0] if isinstance(ours, list) else ours
        theirs = theirs[0] if isinstance(theirs, list | tuple) else theirs
        rows.append((f"  {attr} {inner.name} ({type(inner).__name__})", fmt_shape(ours.shape),
                     *_diff(ours, _to_numpy(keras, theirs))))
    return rows


def _weight_labels(layer) -> list[str]:
    """``layer/weight`` per trainable weight (one per gradient: no BatchNormalization
    moving statistics); ``layer/direction_layer/weight`` in a Bidirectional."""
    inner = [getattr(layer, a, None) for a in ("forward_layer", "backward_layer")]
    if all(i is not None for i in inner):
        return [f"{layer.name}/{i.name}/{w.name}" for i in inner for w in i.parameter_weights]
    return [f"{layer.name}/{w.name}" for w in layer.parameter_weights]


def _mask_row(layer, our_mask, keras_mask):
    """A row comparing the output masks (1 at real steps) when either side has one."""
    if our_mask is None and keras_mask is None:
        return None
    if (our_mask is None) != (keras_mask is None):
        which = "npylstm" if keras_mask is None else "Keras"
        raise CLIError(f"after {layer.name}: only {which} made a mask")
    ours = np.asarray(our_mask[0] if isinstance(our_mask, list) else our_mask, dtype=float)
    return (f"  mask after {layer.name}", fmt_shape(ours.shape),
            *_diff(ours, np.asarray(keras_mask, dtype=float)))


def _print_rows(rows, grad_rows, atol: float) -> int:
    width = max(len(r[0]) for r in rows + grad_rows) + 2
    header = f"{'':<{width}}{'shape':<16}{'max abs diff':>14}{'max rel diff':>14}"
    out()
    out("Layer outputs" + header[len("Layer outputs"):])
    for name, shape, a, r in rows:
        out(f"{name:<{width}}{shape:<16}{a:>14.2e}{r:>14.2e}")
    if grad_rows:
        out()
        several = sum(name.startswith("output ") for name, *_ in rows) > 1
        title = ("Gradients of sum_k mean(output_k * r_k), r_k ~ N(0, 1)" if several
                 else "Gradients of mean(output * r), r ~ N(0, 1)")
        out(title)
        for name, shape, a, r in grad_rows:
            out(f"{name:<{width}}{shape:<16}{a:>14.2e}{r:>14.2e}")
    worst = max(a for _, _, a, _ in rows + grad_rows)
    out()
    if not worst <= atol:  # NaN fails too
        over = [n for n, _, a, _ in rows + grad_rows if not a <= atol]
        out(f"FAIL: largest difference {worst:.2e} > --atol {atol:g} in {', '.join(over)}")
        return EXIT_MISMATCH
    out(f"OK: largest difference {worst:.2e} <= --atol {atol:g}")
    return EXIT_OK


def _crosscheck_graph(args, path, model, keras, version, rules) -> int:
    """A functional model (:mod:`npylstm.cli.crosscheck_graph`)."""
    from .crosscheck_graph import graph_inputs, graph_rows, say_graph

    xs, source = graph_inputs(model, args, np.random.default_rng(args.seed))
    out(f"Cross-check of {path}: npylstm against Keras {keras.__version__} "
        f"({keras.backend.backend()} backend) on {source}")
    for line in rules:
        out(line)
    say_graph(model)
    keras_model = _load_keras_model(keras, path, args.config, keras2=is_keras2(version))
    out("rel = largest |npylstm - Keras| / largest |Keras value|")
    with quiet_keras():
        rows, grad_rows = graph_rows(keras, model, keras_model, xs, args, _diff, _to_numpy)
    return _print_rows(rows, grad_rows, args.atol)


def cmd_crosscheck(args) -> int:
    path = existing(args.file)
    model = load_any_model(path, args.config)
    keras = import_keras("crosscheck")
    version = file_keras_version(path, args.config)
    rules = keras_rules(model, version)
    if is_functional(model):
        return _crosscheck_graph(args, path, model, keras, version, rules)
    rng = np.random.default_rng(args.seed)
    if args.input is not None:
        x = read_inputs(model, args.input)[0]
        source = f"the {len(x)} samples of '{args.input[0]}'"
    else:
        if args.samples < 1:
            raise CLIError(f"--samples: expected an integer >= 1, received {args.samples}")
        shape = list(model.input_shape[1:])
        if shape[0] is None:
            shape[0] = args.timesteps
        spec = input_specs(model)[0]
        if spec.integer:  # an Embedding's ids
            from .crosscheck_graph import random_ids

            x, how = random_ids(model, spec, None, args.samples, shape, rng)
            source = (f"{args.samples} random samples of shape {fmt_shape(shape)}, {how}, "
                      f"seed {args.seed}")
        else:
            x = rng.normal(size=(args.samples, *shape))
            source = (f"{args.samples} random N(0, 1) samples of shape {fmt_shape(shape)}, "
                      f"seed {args.seed}")
    if not np.issubdtype(x.dtype, np.integer):
        x = np.ascontiguousarray(x, dtype=model.layers[0].dtype)
    out(f"Cross-check of {path}: npylstm against Keras {keras.__version__} "
        f"({keras.backend.backend()} backend) on {source}")
    for line in rules:
        out(line)
    keras_model = _load_keras_model(keras, path, args.config, keras2=is_keras2(version))
    if len(keras_model.layers) != len(model.layers):
        raise CLIError(
            f"Keras built {len(keras_model.layers)} layers, npylstm {len(model.layers)}"
        )
    out("rel = largest |npylstm - Keras| / largest |Keras value|")
    rows: list[tuple[str, str, float, float]] = []
    ours, theirs = x, x
    our_mask = keras_mask = None
    with quiet_keras():
        for layer, keras_layer in zip(model.layers, keras_model.layers, strict=True):
            ours_out, _ = layer.forward(ours, training=False, **_our_mask_kwargs(layer, our_mask))
            theirs_out = _to_numpy(keras, keras_layer(
                theirs, training=False, **_keras_mask_kwargs(keras_layer, keras_mask)))
            rows.append((f"{layer.name} ({type(layer).__name__})", fmt_shape(ours_out.shape),
                         *_diff(ours_out, theirs_out)))
            if type(layer).__name__ == "Bidirectional":
                rows += _direction_rows(keras, layer, keras_layer, ours, theirs, our_mask,
                                        keras_mask)
            our_mask, keras_mask = (layer.compute_mask(ours, our_mask),
                                    _keras_next_mask(keras, keras_layer, theirs, keras_mask))
            mask_row = _mask_row(layer, our_mask, keras_mask)
            if mask_row is not None:
                rows.append(mask_row)
            ours, theirs = ours_out, theirs_out
        grad_rows: list[tuple[str, str, float, float]] = []
        if args.grad:
            cotangent = np.random.default_rng(args.seed + 1).normal(size=ours.shape)
            dx_keras, grads_keras = _keras_grads(keras, keras_model, x, cotangent)
            dx_ours, grads_ours = _our_grads(model, x, cotangent)
            if dx_keras is not None:
                grad_rows.append(("input x", fmt_shape(dx_ours.shape),
                                  *_diff(dx_ours, dx_keras)))
            for layer, ours_g, keras_g in zip(model.layers, grads_ours, grads_keras, strict=True):
                for label, g, k in zip(_weight_labels(layer), ours_g, keras_g, strict=True):
                    grad_rows.append((label, fmt_shape(g.shape), *_diff(g, k)))
    return _print_rows(rows, grad_rows, args.atol)
