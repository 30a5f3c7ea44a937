"""GRU (both ``reset_after``), SimpleRNN and LSTM against real Keras layers (JAX backend),
with Keras's time masks: outputs, output masks, shapes, parameter counts and gradients.

Each hypothesis example draws a layer (options, activations, shapes), weights, an input, an
initial state and one mask row per batch row of a random kind — no padding, leading,
trailing, middle, full, or scattered — copies the weights into ``keras.layers.<Kind>`` and
runs both. Keras's numbers come from one ``jax.jit`` of ``jax.value_and_grad`` through the
Keras layer's ``stateless_call`` per example (outputs as the aux value), compiled once and
then reused for a second mask, so an example costs one compilation. npylstm runs on its
default backend and on the generic NumPy loop (``backend="reference"``); both must match.

Tolerances are those of ``tests/test_lstm_keras.py``: 1e-5 absolute, plus 1e-5 relative
for unbounded activations (float32 keeps ~7 digits of a value that can grow), 1e-4 for
``exponential``; gradients within 1e-5 of the largest |Keras gradient| (at least 1).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from npylstm.layers import GRU, LSTM, SimpleRNN

ACTIVATIONS = ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "softsign", "softplus",
               "elu", "selu", "swish", "exponential", "softmax", "log_softmax"]
RECURRENT_ACTIVATIONS = ["sigmoid", "hard_sigmoid", "tanh", "softsign", "linear", "relu"]
BOUNDED = {"tanh", "sigmoid", "hard_sigmoid", "softsign", "softmax"}
UNBOUNDED_GATES = {"linear", "relu"}
SELF_AMPLIFYING = {"exponential", "log_softmax"}
MASK_KINDS = ("none", "leading", "trailing", "middle", "full", "scattered")

OURS = {"GRU": GRU, "SimpleRNN": SimpleRNN, "LSTM": LSTM}
N_STATES = {"GRU": 1, "SimpleRNN": 1, "LSTM": 2}

# XLA's compilation is ~all of an example's time (3-4 s per masked GRU at the default
# optimization level, ~1 s without the expensive LLVM passes); the numbers are float32 XLA
# either way.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}

MAX_DIFF: dict[str, float] = {}  # largest differences seen, printed at the end with -s

KERAS_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: ~1 s/example
}


def examples(default: int) -> int:
    """``default`` drawn layers, or NPYLSTM_KERAS_EXAMPLES for a longer local search."""
    return int(os.environ.get("NPYLSTM_KERAS_EXAMPLES", default))


common = {
    "batch": st.integers(1, 6),
    "timesteps": st.integers(1, 10),
    "input_dim": st.integers(1, 6),
    "units": st.integers(1, 8),
    "return_sequences": st.booleans(),
    "return_state": st.booleans(),
    "go_backwards": st.booleans(),
    "zero_output_for_mask": st.booleans(),
    "use_bias": st.booleans(),
    "activation": st.sampled_from(ACTIVATIONS),
    "with_initial_state": st.booleans(),
    "masked": st.sampled_from([True, True, True, False]),
    "seed": st.integers(0, 2**16),
}
CONFIGS = {
    "GRU": st.fixed_dictionaries({
        **common, "reset_after": st.booleans(),
        "recurrent_activation": st.sampled_from(RECURRENT_ACTIVATIONS)}),
    "SimpleRNN": st.fixed_dictionaries(common),
    "LSTM": st.fixed_dictionaries({
        **common, "unit_forget_bias": st.booleans(),
        "recurrent_activation": st.sampled_from(RECURRENT_ACTIVATIONS)}),
}
LAYER_ARGS = ("units", "return_sequences", "return_state", "go_backwards",
              "zero_output_for_mask", "use_bias", "activation", "recurrent_activation",
              "reset_after", "unit_forget_bias")


def random_mask(rng, batch: int, timesteps: int, kinds=MASK_KINDS) -> np.ndarray:
    """(batch, timesteps) booleans, True at real steps; each row of a kind drawn from
    ``kinds`` (a row too short for its kind gets what fits)."""
    mask = np.ones((batch, timesteps), dtype=bool)
    for row in range(batch):
        kind = kinds[rng.integers(len(kinds))]
        t = timesteps
        if kind == "leading" and t > 1:
            mask[row, : rng.integers(1, t)] = False
        elif kind == "trailing" and t > 1:
            mask[row, rng.integers(1, t):] = False
        elif kind == "middle" and t > 2:
            start = rng.integers(1, t - 1)
            mask[row, start : rng.integers(start + 1, t)] = False
        elif kind == "full":
            mask[row] = False
        elif kind == "scattered":
            mask[row] = rng.random(t) < 0.5
    return mask


def _regime(cfg: dict) -> tuple[float, float, float]:
    """Tame the drawn example (as tests/test_lstm_keras.py does) and return
    ``(weight scale, rtol, gradient tolerance)``."""
    act, rec = cfg["activation"], cfg.get("recurrent_activation", "sigmoid")
    if act in SELF_AMPLIFYING:
        cfg["timesteps"] = min(cfg["timesteps"], 5)
    elif rec in UNBOUNDED_GATES or act not in BOUNDED:
        cfg["timesteps"] = min(cfg["timesteps"], 10)
    if act in ("softmax", "log_softmax") and cfg["units"] == 1:
        cfg["units"] = 2  # a softmax over one unit is constant
    bounded = act in BOUNDED and rec in BOUNDED
    scale = 1.0 if bounded else 0.1 if act in SELF_AMPLIFYING else 0.3
    tol = 1e-4 if act == "exponential" else 1e-5
    return scale, (0.0 if bounded else tol), tol


class KerasOracle:
    """One Keras layer of the drawn options, built with cheap initializers (the weights are
    arguments of the jitted function), and its jitted value-and-gradient."""

    def __init__(self, keras, kind: str, kwargs: dict, shape: tuple):
        import jax
        import jax.numpy as jnp

        self.layer = getattr(keras.layers, kind)(
            **kwargs, kernel_initializer="zeros", recurrent_initializer="zeros")
        self.layer.build(shape)
        non_trainable = [v.value for v in self.layer.non_trainable_variables]  # dropout seed

        def objective(trainable, x, states, mask, upstream):
            outputs, _ = self.layer.stateless_call(
                trainable, non_trainable, x, initial_state=states, mask=mask)
            outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
            value = sum(jnp.sum(o * u) for o, u in zip(outputs, upstream, strict=True))
            return value, outputs

        self.run = jax.jit(jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True),
                           compiler_options=FAST_COMPILE)

    def __call__(self, weights, x, states, mask, upstream):
        (_, outputs), (dweights, dx, dstates) = self.run(weights, x, states, mask, upstream)
        return ([np.asarray(o) for o in outputs], [np.asarray(g) for g in dweights],
                np.asarray(dx), [np.asarray(s) for s in dstates])


def _compare_outputs(got, expected, rtol, what):
    assert len(got) == len(expected), what
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == np.float32, what
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=rtol, err_msg=what)
        finite = np.isfinite(e)
        if finite.any():
            key = "outputs_bounded" if rtol == 0 else "outputs_unbounded"
            diff = float(np.max(np.abs(g[finite] - e[finite])))
            MAX_DIFF[key] = max(MAX_DIFF.get(key, 0.0), diff)


def _compare_grads(pairs, tol, what):
    for name, g, kg in pairs:
        finite = np.isfinite(kg)
        np.testing.assert_array_equal(np.isfinite(g), finite, err_msg=f"{what} d{name}")
        if not finite.any():
            continue
        scale = max(1.0, float(np.max(np.abs(kg[finite]))))
        err = float(np.max(np.abs(g[finite] - kg[finite]))) / scale
        assert err < tol, f"{what} d{name}: error {err:.2e} relative to scale {scale:.3g}"
        MAX_DIFF["grad_rel"] = max(MAX_DIFF.get("grad_rel", 0.0), err)


def check_against_keras(keras, kind: str, cfg: dict) -> None:
    cfg = dict(cfg)
    scale, rtol, tol = _regime(cfg)
    rng = np.random.default_rng(cfg["seed"])
    kwargs = {k: cfg[k] for k in LAYER_ARGS if k in cfg}
    shape = (cfg["batch"], cfg["timesteps"], cfg["input_dim"])
    b, u = cfg["batch"], cfg["units"]
    layers = {backend: OURS[kind](**kwargs, backend=backend) for backend in (None, "reference")}
    for layer in layers.values():
        layer.build(shape)
    weights = [rng.normal(0, scale / np.sqrt(w.value.shape[0] if w.value.ndim == 2 else 1),
                          size=w.value.shape).astype("float32")
               for w in layers[None].weights]
    for layer in layers.values():
        layer.set_weights(weights)
    oracle = KerasOracle(keras, kind, kwargs, shape)
    theirs = oracle.layer

    assert layers[None].count_params() == theirs.count_params()
    none_shape = (None, cfg["timesteps"], cfg["input_dim"])
    assert layers[None].compute_output_shape(none_shape) == theirs.compute_output_shape(none_shape)

    x = rng.normal(0, 1.0, size=shape).astype("float32")
    states = [rng.normal(0, 0.5, size=(b, u)).astype("float32")
              for _ in range(N_STATES[kind])] if cfg["with_initial_state"] else None
    keras_states = states or [np.zeros((b, u), "float32") for _ in range(N_STATES[kind])]
    masks = [random_mask(rng, b, cfg["timesteps"]), random_mask(rng, b, cfg["timesteps"])]
    if not cfg["masked"]:
        masks = [None]
    for mask in masks:
        keras_mask = np.ones((b, cfg["timesteps"]), bool) if mask is None else mask
        what = f"{kind} {kwargs} mask={None if mask is None else mask.astype(int).tolist()}"
        outputs, cache = layers[None].forward(x, initial_state=states, mask=mask)
        outputs = list(outputs) if cfg["return_state"] else [outputs]
        upstream = [rng.normal(size=o.shape).astype("float32") for o in outputs]
        k_out, k_dw, k_dx, k_dstates = oracle(weights, x, keras_states, keras_mask, upstream)
        _compare_outputs(outputs, k_out, rtol, what + " forward")
        for backend, layer in layers.items():
            called = layer(x, initial_state=states, mask=mask)
            called = list(called) if cfg["return_state"] else [called]
            _compare_outputs(called, k_out, rtol, f"{what} __call__ backend={backend}")

        # the output mask: the input's with return_sequences, else None (Keras's compute_mask)
        ours_mask = layers[None].compute_mask(x, mask)
        keras_out_mask = theirs.compute_mask(x, mask)
        ours_masks = ours_mask if cfg["return_state"] else [ours_mask]
        keras_masks = keras_out_mask if cfg["return_state"] else [keras_out_mask]
        for o, k in zip(ours_masks, keras_masks, strict=True):
            assert (o is None) == (k is None), what
            if o is not None:
                np.testing.assert_array_equal(np.asarray(o), np.asarray(k))

        dy = upstream if cfg["return_state"] else upstream[0]
        for backend, layer in layers.items():
            if backend is not None:
                _, cache = layer.forward(x, initial_state=states, mask=mask)
            dx, grads, dstates = layer.backward(dy, cache, return_state_grads=True)
            pairs = [("x", dx, k_dx)]
            pairs += [(f"state{i}", g, k) for i, (g, k) in
                      enumerate(zip(dstates, k_dstates, strict=True))]
            pairs += [(w.name, g, k) for w, g, k in zip(layer.weights, grads, k_dw, strict=True)]
            _compare_grads(pairs, tol, f"{what} backend={backend}")


@settings(max_examples=examples(10), **KERAS_SETTINGS)
@given(cfg=CONFIGS["GRU"])
def test_gru_matches_keras(keras, cfg):
    check_against_keras(keras, "GRU", cfg)


@settings(max_examples=examples(6), **KERAS_SETTINGS)
@given(cfg=CONFIGS["SimpleRNN"])
def test_simple_rnn_matches_keras(keras, cfg):
    check_against_keras(keras, "SimpleRNN", cfg)


@settings(max_examples=examples(5), **KERAS_SETTINGS)
@given(cfg=CONFIGS["LSTM"])
def test_masked_lstm_matches_keras(keras, cfg):
    check_against_keras(keras, "LSTM", cfg)


@pytest.mark.parametrize(("kind", "reset_after"),
                         [("GRU", True), ("GRU", False), ("SimpleRNN", None), ("LSTM", None)])
def test_every_mask_kind_with_zero_output(keras, kind, reset_after):
    """A fixed example per layer with one batch row of each mask kind, read backwards,
    with zero_output_for_mask, return_sequences and return_state all on."""
    cfg = {"batch": len(MASK_KINDS), "timesteps": 7, "input_dim": 3, "units": 4,
           "return_sequences": True, "return_state": True, "go_backwards": True,
           "zero_output_for_mask": True, "use_bias": True, "activation": "tanh",
           "recurrent_activation": "sigmoid", "with_initial_state": True, "masked": True,
           "seed": 3}
    if kind == "GRU":
        cfg["reset_after"] = reset_after
    if kind == "SimpleRNN":
        del cfg["recurrent_activation"]
    check_against_keras(keras, kind, cfg)


def test_random_mask_draws_every_kind():
    rng = np.random.default_rng(0)
    t = 6
    for kind in MASK_KINDS:
        mask = random_mask(rng, 1, t, kinds=(kind,))[0]
        real = np.flatnonzero(mask)
        if kind == "none":
            assert mask.all()
        elif kind == "leading":
            assert not mask[0] and mask[-1] and (np.diff(real) == 1).all()
        elif kind == "trailing":
            assert mask[0] and not mask[-1] and (np.diff(real) == 1).all()
        elif kind == "middle":
            assert mask[0] and mask[-1] and not mask.all()
        elif kind == "full":
            assert not mask.any()


# -- bad input, through each recurrent layer --------------------------------------------------


@pytest.mark.parametrize("cls", [GRU, SimpleRNN, LSTM])
def test_mask_of_the_wrong_shape_is_refused(cls):
    layer = cls(3, name="rec")
    x = np.zeros((2, 5, 4), dtype="float32")
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'rec'.*expected a mask of shape "
                       r"\(batch, timesteps\) = \(2, 5\), received \(2, 4\)"):
        layer(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'rec'.*received \(5, 2\)"):
        layer.forward(x, mask=np.ones((5, 2), bool))


@pytest.mark.parametrize("cls", [GRU, SimpleRNN, LSTM])
def test_stateful_layer_keeps_its_batch_size(cls):
    layer = cls(3, stateful=True, name="carry")
    layer(np.ones((2, 5, 4), dtype="float32"))
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'carry'.*carries states for batch "
                       r"size 2, received a batch of 3"):
        layer(np.ones((3, 5, 4), dtype="float32"))
    layer.reset_states()
    assert layer(np.ones((3, 5, 4), dtype="float32")).shape == (3, 3)


def test_report_largest_differences():
    """Runs last in this module; prints what the Keras comparisons above observed (-s)."""
    print("\nlargest differences vs Keras:", MAX_DIFF)
    assert set(MAX_DIFF) <= {"outputs_bounded", "outputs_unbounded", "grad_rel"}
