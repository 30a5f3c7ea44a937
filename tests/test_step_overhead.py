"""The per-call fast paths of one training step and one prediction give exactly the numbers
of the general paths they skip (issue #15, item 5): Adam's per-step scalars computed once
per dtype, the optimizer's checks skipped for the weights it was built for, the loss's mean
and sum without NumPy's Python layers, Dense's bias added in place, the model calling its
layers without the symbolic-tensor search, a stream's states passed on unchecked.

Every expected value is computed here by the general route: Keras's Adam written out in
NumPy, ``np.mean`` / ``np.sum``, ``x @ kernel + bias``, each layer's public ``__call__``.
Speed is measured in ``benchmarks/``, never here.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import npylstm
from npylstm import losses, optimizers
from npylstm.layers import LSTM, Dense
from npylstm.losses_base import _mean_last
from npylstm.optimizers.base import keras_power


# -- Adam: the step's scalars once per dtype ------------------------------------------------
def _keras_adam(weights, grads_per_step, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                amsgrad=False):
    """Keras 3.15.1's ``Adam.update_step`` (keras/src/optimizers/adam.py) written out per
    weight in the weight's dtype, the power as XLA computes it (keras_power)."""
    weights = [w.copy() for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    v_hat = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(grads_per_step):
        for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
            f = w.dtype.type
            g = g.astype(w.dtype)
            lr_t = f(np.float32(lr))  # the float32 learning-rate variable, cast to w's dtype
            local_step = f(t + 1)
            beta_1_power = keras_power(f(beta_1), local_step)
            beta_2_power = keras_power(f(beta_2), local_step)
            alpha = lr_t * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)
            m[i] += (g - m[i]) * f(1 - beta_1)
            v[i] += (np.square(g) - v[i]) * f(1 - beta_2)
            denom_v = v[i]
            if amsgrad:
                np.maximum(v_hat[i], v[i], out=v_hat[i])
                denom_v = v_hat[i]
            w -= (m[i] * alpha) / (np.sqrt(denom_v) + f(epsilon))
    return weights, m, v


def _mixed_problem(seed=0, steps=4):
    rng = np.random.default_rng(seed)
    shapes = [((3, 8), np.float32), ((8,), np.float64), ((2, 4), np.float32),
              ((5,), np.float64)]
    weights = [rng.normal(0, 1, s).astype(d) for s, d in shapes]
    grads = [[rng.normal(0, 2, s).astype(d) for s, d in shapes] for _ in range(steps)]
    return weights, grads


@pytest.mark.parametrize("amsgrad", [False, True], ids=["fused", "amsgrad"])
def test_adam_scalars_once_per_dtype_equal_keras_per_weight(amsgrad):
    """float32 and float64 weights in one apply: each gets its own dtype's scalars, bit for
    bit the per-weight computation of Keras's update_step (fused pass and the NumPy one)."""
    weights, grads = _mixed_problem()
    expected, m, v = _keras_adam(weights, grads, amsgrad=amsgrad)
    opt = optimizers.Adam(amsgrad=amsgrad)
    ours = [w.copy() for w in weights]
    for step in grads:
        opt.apply(ours, step)
    for got, want in zip(ours, expected, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for slots, m_i, v_i in zip(opt.slots, m, v, strict=True):
        np.testing.assert_array_equal(slots["momentum"], m_i)
        np.testing.assert_array_equal(slots["velocity"], v_i)


def test_adam_update_step_alone_equals_the_batched_step():
    """``_update_step`` (one weight, the subclass hook) and the per-dtype batched step give
    the same bits; a non-contiguous weight takes the NumPy path with the same numbers."""
    weights, grads = _mixed_problem(seed=3, steps=1)
    batched = optimizers.Adam(learning_rate=0.01)
    single = optimizers.Adam(learning_rate=0.01)
    a = [w.copy() for w in weights]
    b = [w.copy() for w in weights]
    batched.apply(a, grads[0])
    single.build(b)
    for w, g, slots in zip(b, grads[0], single.slots, strict=True):
        single._update_step(w, g, slots, w.dtype.type(single._current_learning_rate()))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    # a strided view of a float32 matrix: not C-contiguous, so not the fused pass
    base = np.random.default_rng(4).normal(0, 1, (6, 8)).astype(np.float32)
    grad = np.random.default_rng(5).normal(0, 1, (6, 4)).astype(np.float32)
    view = base.copy()[:, ::2]
    assert not view.flags.c_contiguous
    (expected,), _, _ = _keras_adam([np.ascontiguousarray(view)], [[grad]])
    opt = optimizers.Adam()
    opt.apply([view], [grad])
    np.testing.assert_array_equal(view, expected)


# -- the optimizer's checks, skipped only for the weights it was built for ------------------
def test_apply_still_refuses_other_weights_after_build():
    weights = [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]
    grads = [np.ones((2, 3), np.float32), np.ones(3, np.float32)]
    opt = optimizers.Adam()
    opt.apply(weights, grads)
    with pytest.raises(ValueError, match="built for weights"):
        opt.apply([weights[0].astype(np.float64), weights[1]], grads)
    with pytest.raises(ValueError, match="built for weights"):
        opt.apply([np.zeros((3, 2), np.float32), weights[1]], [np.ones((3, 2)), grads[1]])
    with pytest.raises(TypeError, match="weight 0 must be a float numpy array"):
        opt.apply([[0.0, 0.0, 0.0], weights[1]], [np.ones(3), grads[1]])
    with pytest.raises(TypeError, match="weight 1 must be a float numpy array"):
        opt.apply([weights[0], np.zeros(3, np.int32)], grads)
    with pytest.raises(ValueError, match="gradient 1 has shape"):
        opt.apply(weights, [grads[0], np.ones(4, np.float32)])
    with pytest.raises(ValueError, match="received 1 weights but 2 gradients"):
        opt.apply(weights[:1], grads)
    assert opt.iterations == 1  # none of the refused calls stepped


# -- the loss: NumPy's mean and sum without their Python layers ------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 6, 2), (3, 1), (2, 0, 3)])
def test_mean_last_is_np_mean(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    e = rng.normal(0, 1e3, shape).astype(dtype)
    if e.size > 2:
        e.flat[0], e.flat[1], e.flat[-1] = np.nan, np.inf, -np.inf
    with np.errstate(all="ignore"):  # inf - inf in the sums: NaN, silently
        mean, k = _mean_last(e)
        want = np.mean(e, axis=-1)
    assert np.asarray(mean).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(mean, want)
    assert k == e.dtype.type(1.0 / shape[-1])


def test_mean_last_many_random_rows_bit_equal():
    """Sums whose float32 quotient rounding is close: equal to np.mean on every row."""
    rng = np.random.default_rng(11)
    for n in (1, 3, 5, 7, 10, 33, 100):
        e = rng.normal(0, 1, (500, n)).astype(np.float32) * np.float32(3.3)
        np.testing.assert_array_equal(_mean_last(e)[0], np.mean(e, axis=-1))


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "log_cosh",
                                  "mean_squared_logarithmic_error"])
def test_loss_value_equals_np_mean_of_values(name):
    """The reduced loss is ``np.sum(values) / count`` of Keras's per-sample values, as
    NumPy's general functions compute it (float32 and a 1-D target)."""
    loss = losses.get(name)
    rng = np.random.default_rng(2)
    for shape in [(16, 5), (16,), (4, 7, 3)]:
        y = rng.uniform(0.1, 2, shape).astype(np.float32)
        p = rng.uniform(0.1, 2, shape).astype(np.float32)
        value, grad = loss(y, p)
        values = loss.values(y, p)
        count = np.float32(max(np.size(values), 1))
        assert value == float(np.sum(values) / count)
        assert grad.shape == p.shape and grad.dtype == np.float32


# -- Dense: the bias added in place ---------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 6), (3, 5, 6)])
def test_dense_forward_equals_product_plus_bias(shape):
    layer = Dense(3, activation="tanh")
    x = np.random.default_rng(0).normal(0, 1, shape).astype(np.float32)
    layer.build(x.shape)
    layer.bias[...] = np.array([0.5, -1.0, 2.0], np.float32)
    y, cache = layer.forward(x)
    z = x @ layer.kernel + layer.bias
    np.testing.assert_array_equal(cache.z, z)
    np.testing.assert_array_equal(y, np.tanh(z))


# -- the model's own passes call the layers without the symbolic search ---------------------
def _seed_model(stateful=False, steps=7):
    npylstm.set_random_seed(5)
    model = npylstm.Sequential([
        npylstm.Input(shape=(steps, 2), batch_size=3),
        LSTM(6, return_sequences=True, stateful=stateful), LSTM(4, stateful=stateful),
        Dense(2, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_predict_on_batch_equals_the_layers_public_calls():
    model = _seed_model()
    x = np.random.default_rng(1).normal(0, 1, (3, 7, 2)).astype(np.float32)
    h = x
    for layer in model.layers:
        h = layer(h)  # the public call, symbolic check included
    np.testing.assert_array_equal(model.predict_on_batch(x), h)
    np.testing.assert_array_equal(model(x), h)


def test_a_layers_own_call_decorator_still_runs():
    """Only the symbolic-tensor wrapper is skipped: a custom layer's own ``__call__``
    (decorated, as a user may write it) runs in predict and step."""
    calls = []

    def counted(call):
        @functools.wraps(call)
        def wrapper(self, *args, **kwargs):
            calls.append(self.name)
            return call(self, *args, **kwargs)
        return wrapper

    class CountedDense(Dense):
        @counted
        def __call__(self, x, training=False):
            return super().__call__(x, training=training) * np.float32(2)

    npylstm.set_random_seed(2)
    model = npylstm.Sequential([npylstm.Input(shape=(4, 3)), LSTM(3),
                                CountedDense(2, name="counted")])
    x = np.random.default_rng(0).normal(0, 1, (2, 4, 3)).astype(np.float32)
    h = model.layers[0](x)
    want = model.layers[1].forward(h)[0] * np.float32(2)
    np.testing.assert_array_equal(model.predict_on_batch(x), want)
    assert calls == ["counted"]
    y_t, _ = model.step(x[:, 0], model.initial_states(2))
    assert calls == ["counted", "counted"] and y_t.shape == (2, 2)


# -- a stream's states: passed on when ready, converted otherwise ---------------------------
def test_step_states_fast_path_equals_converted_states():
    model = _seed_model(steps=1)
    x = np.random.default_rng(3).normal(0, 1, (3, 5, 2)).astype(np.float32)
    ready = model.initial_states(3)
    other = {k: tuple(s.astype(np.float64) for s in v) for k, v in ready.items()}
    for t in range(5):
        y_ready, ready = model.step(x[:, t], ready)
        y_other, other = model.step(x[:, t], other)
        np.testing.assert_array_equal(y_ready, y_other)
        # the next call gets float64 tuples again: always the converting route
        other = {k: tuple(s.astype(np.float64) for s in v) for k, v in other.items()}
    layer = model.layers[0]
    fortran = [np.asfortranarray(np.ones((3, 6), np.float32))] * 2
    assert not layer._states_ready(fortran, layer.cell, 3)
    assert not layer._states_ready([np.zeros((3, 6), np.float32)], layer.cell, 3)
    assert not layer._states_ready([np.zeros((2, 6), np.float32)] * 2, layer.cell, 3)
    assert layer._states_ready([np.zeros((3, 6), np.float32)] * 2, layer.cell, 3)


def test_step_refuses_bad_states_as_before():
    model = _seed_model(steps=1)
    layer = model.layers[0]
    with pytest.raises(ValueError, match="initial_state h expected shape"):
        layer.step(np.zeros((3, 2), np.float32), [np.zeros((2, 6)), np.zeros((2, 6))])
    with pytest.raises(ValueError, match="expected initial_state to be a list of two arrays"):
        layer.step(np.zeros((3, 2), np.float32), [np.zeros((3, 6))])


# -- training: the optimizer built once, the same trajectory -------------------------------
def test_train_on_batch_builds_the_optimizer_once_with_the_weight_paths():
    model = _seed_model()
    x = np.random.default_rng(4).normal(0, 1, (3, 7, 2)).astype(np.float32)
    y = np.random.default_rng(5).uniform(0, 1, (3, 2)).astype(np.float32)
    model.train_on_batch(x, y)
    built = model.optimizer.variables[2:]
    names = model.optimizer.variable_names
    for _ in range(3):
        model.train_on_batch(x, y)
    assert model.optimizer.variable_names == names
    assert all(a is b for a, b in zip(model.optimizer.variables[2:], built, strict=True))
    assert names[2] == f"{model.name}_{model.layers[0].name}_kernel_momentum"
    assert model.optimizer.iterations == 4
