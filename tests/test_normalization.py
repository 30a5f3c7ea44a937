"""BatchNormalization and LayerNormalization beyond the conformance rows: the moving
statistics against Keras's after several training calls (masked too) and after ``fit``,
frozen layers, rms_scaling, regularizers, masks passed on, hypothesis over the options,
and every bad input refused (Keras: the session's ``keras`` fixture, imported once).

Expected values come from real Keras (JAX backend): eager ``layer(x, training=True)``
calls, ``stateless_call`` (outputs, updated moving statistics) and ``jax.grad``, and
``keras.Model.fit``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npylstm
from npylstm import optimizers, registry, regularizers
from npylstm.layers import BatchNormalization, LayerNormalization

RMS_WARNING = "You passed `rms_scaling=True`, which is deprecated"


def _twin(keras, layer, shape):
    """Keras's layer from our config, built for ``shape`` and given our weights."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=RMS_WARNING, category=UserWarning)
        theirs = keras.layers.deserialize(registry.serialize(layer))
    theirs.build((None, *shape[1:]))
    theirs.set_weights(layer.get_weights())
    return theirs


def _keras_weights(obj) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in obj.weights]  # (Keras's get_weights warns, NumPy 2)


def _randomize(layer, rng):
    layer.set_weights([
        (np.abs(rng.normal(size=w.shape)) + 0.5 if w.name == "moving_variance"
         else rng.normal(size=w.shape)).astype(w.dtype) for w in layer.weights
    ])


def _close(ours, theirs, tol=1e-5):
    theirs = np.asarray(theirs)
    scale = max(1.0, float(np.max(np.abs(theirs))))
    np.testing.assert_allclose(ours, theirs, atol=tol * scale)


def _keras_call(keras, theirs, x, dy, training, mask=None):
    """Keras's ``(outputs, updated non-trainable values, dx, trainable grads)``."""
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in theirs.trainable_variables]
    frozen = [v.value for v in theirs.non_trainable_variables]
    kwargs = {} if training is None else {"training": training}  # LayerNormalization: None
    kwargs |= {} if mask is None else {"mask": jnp.asarray(mask)}

    def objective(weights, x):
        out, _ = theirs.stateless_call(weights, frozen, x, **kwargs)
        return jnp.sum(out * dy)

    with warnings.catch_warnings():  # Keras's ops.layer_normalization warns on rms_scaling
        warnings.filterwarnings("ignore", message=RMS_WARNING, category=UserWarning)
        out, new_frozen = theirs.stateless_call(trainable, frozen, jnp.asarray(x), **kwargs)
        grads, dx = jax.grad(objective, argnums=(0, 1))(trainable, jnp.asarray(x))
    return out, new_frozen, dx, grads


# -- the moving statistics ------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True])
def test_moving_statistics_after_three_training_calls_equal_keras(keras, rng, masked):
    layer = BatchNormalization(momentum=0.8, epsilon=0.01)
    layer.build((None, 5, 3))
    _randomize(layer, rng)
    theirs = _twin(keras, layer, (4, 5, 3))
    before = [w.copy() for w in layer.get_weights()[2:]]
    for _ in range(3):
        x = rng.normal(1.0, 2.0, size=(4, 5, 3)).astype("float32")
        mask = (rng.random((4, 5)) < 0.6) if masked else None
        if masked:
            ours = layer(x, training=True, mask=mask)
            ref = theirs(x, training=True, mask=mask)
        else:
            ours, ref = layer(x, training=True), theirs(x, training=True)
        _close(ours, ref)
    for name, after, start in zip(("moving_mean", "moving_variance"), layer.get_weights()[2:],
                                  before, strict=True):
        ref = np.asarray(getattr(theirs, name).value)
        assert not np.allclose(ref, start)  # three calls moved them
        np.testing.assert_allclose(after, ref, rtol=1e-6, atol=1e-7, err_msg=name)


def test_masked_moments_are_those_of_the_real_entries_only(rng):
    x = rng.normal(size=(3, 4, 2))
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]], dtype=bool)
    layer = BatchNormalization(momentum=0.0, dtype="float64")  # moving = the batch's
    layer(x, training=True, mask=mask)
    real = x[mask]  # (7, 2) by hand: the real entries
    count = len(real) + 1e-7  # Keras divides by sum(mask) + epsilon()
    mean = real.sum(axis=0) / count
    np.testing.assert_allclose(layer.moving_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, ((real - mean) ** 2).sum(axis=0) / count,
                               rtol=1e-12)
    layer(x, training=True)  # without a mask: every entry, biased variance
    flat = x.reshape(-1, 2)
    np.testing.assert_allclose(layer.moving_mean, flat.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, flat.var(axis=0), rtol=1e-12)


def test_inference_neither_uses_nor_moves_the_batch_statistics(rng):
    layer = BatchNormalization()
    x = rng.normal(3.0, 1.0, size=(8, 2)).astype("float32")
    y = layer(x)  # moving mean 0, variance 1: x / sqrt(1 + epsilon)
    np.testing.assert_allclose(y, x / np.sqrt(1.001), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean, [0, 0])
    np.testing.assert_array_equal(layer.moving_variance, [1, 1])


def test_frozen_layer_runs_inference_in_training_as_keras(keras, rng):
    layer = BatchNormalization(trainable=False)
    layer.build((None, 3))
    _randomize(layer, rng)
    theirs = _twin(keras, layer, (5, 3))
    assert not theirs.trainable and layer.trainable_weights == []
    x = rng.normal(size=(5, 3)).astype("float32")
    dy = rng.normal(size=(5, 3)).astype("float32")
    before = layer.get_weights()
    y, cache = layer.forward(x, training=True)
    dx, grads = layer.backward(dy, cache)
    out, _, ref_dx, _ = _keras_call(keras, theirs, x, dy, training=True)
    _close(y, out)
    _close(dx, ref_dx)
    assert len(grads) == len(layer.parameter_weights) == 2  # gradients, never applied
    for a, b, c in zip(layer.get_weights(), before, _keras_weights(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


# -- fit ------------------------------------------------------------------------------------
def test_fit_with_batch_normalization_matches_keras(keras):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    npylstm.layers.clear_session()
    ours = npylstm.Sequential([
        npylstm.Input((6, 3)), npylstm.layers.LSTM(4, return_sequences=True),
        BatchNormalization(momentum=0.7), npylstm.layers.LSTM(3), npylstm.layers.Dense(1)])
    bn = ours.layers[1]
    _randomize(bn, rng)
    start = bn.moving_mean.copy()
    theirs = ours.to_keras()
    assert [v.path.split("/")[-1] for v in theirs.layers[1].weights] == [
        "gamma", "beta", "moving_mean", "moving_variance"]
    for a, b in zip(ours.get_weights(), _keras_weights(theirs), strict=True):
        np.testing.assert_array_equal(a, b)
    ours.compile(optimizer=optimizers.SGD(0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    fit = {"epochs": 3, "batch_size": 4, "shuffle": False, "verbose": 0}
    expected = theirs.fit(x, y, **fit).history["loss"]
    got = ours.fit(x, y, **fit).history["loss"]
    assert len(got) == 3
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    keras_bn = theirs.layers[1]
    assert not np.allclose(bn.moving_mean, start)  # 12 training steps moved them
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(bn, name), np.asarray(getattr(keras_bn, name).value),
                                   rtol=1e-4, atol=1e-6, err_msg=name)
    for a, b in zip(ours.get_weights(), _keras_weights(theirs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


# -- LayerNormalization's own options -------------------------------------------------------
def test_rms_scaling_is_keras_variance_scaling_without_beta(keras, rng):
    layer = LayerNormalization(rms_scaling=True, center=True, epsilon=0.01)
    x = rng.normal(2.0, 1.5, size=(3, 4, 5)).astype("float32")
    layer.build(x.shape)
    assert [w.name for w in layer.weights] == ["gamma"]  # center is ignored
    _randomize(layer, rng)
    theirs = _twin(keras, layer, x.shape)
    assert [v.path.split("/")[-1] for v in theirs.weights] == ["gamma"]
    dy = rng.normal(size=x.shape).astype("float32")
    y, cache = layer.forward(x)
    dx, grads = layer.backward(dy, cache)
    out, _, ref_dx, ref_grads = _keras_call(keras, theirs, x, dy, training=None)
    _close(y, out)
    _close(dx, ref_dx)
    _close(grads[0], ref_grads[0])
    by_hand = x * layer.gamma / np.sqrt(x.var(axis=-1, keepdims=True) + 0.01)
    np.testing.assert_allclose(y, by_hand, rtol=1e-5)


def test_layer_normalization_built_config_is_keras_sorted_list(keras):
    layer = LayerNormalization(axis=(2, 1), name="ln")
    theirs = keras.layers.LayerNormalization(axis=(2, 1), name="ln")
    assert layer.get_config() == theirs.get_config()
    layer.build((None, 3, 4))
    theirs.build((None, 3, 4))
    assert layer.get_config() == theirs.get_config()
    assert layer.get_config()["axis"] == [1, 2]
    assert registry.deserialize(registry.serialize(layer)).get_config() == layer.get_config()


@pytest.mark.parametrize("cls", [BatchNormalization, LayerNormalization])
def test_mask_passes_on_as_keras(keras, cls, rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    mask = np.array([[True, False, True], [True, True, False]])
    layer = cls()
    theirs = getattr(keras.layers, cls.__name__)()
    theirs.build(x.shape)
    np.testing.assert_array_equal(layer.compute_mask(x, mask),
                                  np.asarray(theirs.compute_mask(x, mask)))
    assert layer.compute_mask(x, None) is None


def test_masked_sequential_feeds_batch_normalization_the_mask(keras, rng):
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    x[2, 1:] = 0.0
    layers = [npylstm.layers.Masking(0.0), BatchNormalization(), npylstm.layers.Dense(2)]
    ours = npylstm.Sequential([npylstm.Input((5, 3)), *layers])
    _randomize(layers[1], rng)
    theirs = ours.to_keras()
    ours.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    ours.train_on_batch(x, np.zeros((4, 5, 2), "float32"))  # one training forward, lr 0
    theirs(x, training=True)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(layers[1], name),
                                   np.asarray(getattr(theirs.layers[1], name).value),
                                   rtol=1e-6, err_msg=name)


def test_regularizers_penalize_gamma_and_beta_as_keras(keras, rng):
    for cls in (BatchNormalization, LayerNormalization):
        layer = cls(gamma_regularizer=regularizers.L2(0.1), beta_regularizer=regularizers.L1(0.2))
        layer.build((None, 4))
        _randomize(layer, rng)
        theirs = _twin(keras, layer, (2, 4))
        expected = float(sum(np.asarray(loss) for loss in theirs.losses))
        np.testing.assert_allclose(layer.regularization_loss(), expected, rtol=1e-6)
        grads = layer.regularization_grads()
        assert len(grads) == len(layer.parameter_weights) == 2
        np.testing.assert_allclose(grads[0], 0.2 * layer.gamma, rtol=1e-6)
        np.testing.assert_allclose(grads[1], 0.2 * np.sign(layer.beta), rtol=1e-6)


# -- hypothesis over the options ------------------------------------------------------------
@settings(max_examples=6, deadline=None, derandomize=True)
@given(momentum=st.floats(0.0, 1.0), epsilon=st.floats(1e-5, 1.0),
       axis=st.sampled_from([-1, 1, 2, -2]), masked=st.booleans())
def test_batch_normalization_matches_keras_over_options(keras, momentum, epsilon, axis, masked):
    rng = np.random.default_rng(11)
    shape = (4, 3, 5)
    layer = BatchNormalization(axis=axis, momentum=momentum, epsilon=epsilon)
    layer.build((None, *shape[1:]))
    _randomize(layer, rng)
    theirs = _twin(keras, layer, shape)
    x = rng.normal(0.5, 2.0, size=shape).astype("float32")
    dy = rng.normal(size=shape).astype("float32")
    mask = (rng.random(shape[:2]) < 0.6) if masked else None
    mask = None if mask is None else mask | (np.arange(3) == 0)
    for training in (False, True):
        y, cache = layer.forward(x, training=training, mask=mask)
        dx, grads = layer.backward(dy, cache)
        out, new_frozen, ref_dx, ref_grads = _keras_call(keras, theirs, x, dy, training, mask)
        _close(y, out)
        _close(dx, ref_dx)
        for g, r in zip(grads, ref_grads, strict=True):
            _close(g, r)
        for w, r in zip(layer.weights[2:], new_frozen, strict=True):
            np.testing.assert_allclose(w.value, np.asarray(r), rtol=1e-6, atol=1e-7)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(epsilon=st.floats(1e-5, 1.0), axis=st.sampled_from([-1, 1, 2, [1, 2], [-1, -2]]),
       center=st.booleans(), scale=st.booleans(), rms_scaling=st.booleans())
def test_layer_normalization_matches_keras_over_options(keras, epsilon, axis, center, scale,
                                                        rms_scaling):
    rng = np.random.default_rng(12)
    shape = (3, 4, 5)
    layer = LayerNormalization(axis=axis, epsilon=epsilon, center=center, scale=scale,
                               rms_scaling=rms_scaling)
    layer.build((None, *shape[1:]))
    _randomize(layer, rng)
    theirs = _twin(keras, layer, shape)
    assert layer.get_config() == theirs.get_config()
    x = rng.normal(0.5, 2.0, size=shape).astype("float32")
    dy = rng.normal(size=shape).astype("float32")
    y, cache = layer.forward(x)
    dx, grads = layer.backward(dy, cache)
    out, _, ref_dx, ref_grads = _keras_call(keras, theirs, x, dy, None)
    _close(y, out)
    _close(dx, ref_dx)
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads, strict=True):
        _close(g, r)


# -- bad inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"axis": [1]}, r"expected axis to be one integer .*received \[1\]"),
    ({"axis": True}, r"expected axis to be one integer .*received True"),
    ({"momentum": "high"}, r"expected momentum to be a finite number, received 'high'"),
    ({"epsilon": -1.0}, r"expected epsilon >= 0.0, received -1.0"),
    ({"epsilon": float("nan")}, r"expected epsilon to be a finite number"),
    ({"center": "yes"}, r"expected center to be True or False, received 'yes'"),
    ({"scale": None}, r"expected scale to be True or False, received None"),
    ({"synchronized": True}, r"synchronized=True is not supported"),
    ({"renorm": True}, r"renorm=True \(batch renormalization\) is not supported"),
    ({"renorm_clipping": 3}, r"expected renorm_clipping to be None or a dict, received 3"),
    ({"renorm_momentum": None}, r"expected renorm_momentum to be a finite number"),
    ({"gamma_constraint": "nonnegative"}, r"gamma_constraint: Unknown constraint"),
    ({"beta_constraint": "nonnegative"}, r"beta_constraint: Unknown constraint"),
])
def test_batch_normalization_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': " + message):
        BatchNormalization(name="bn", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"axis": "last"}, r"expected axis to be an int or a non-empty list of ints, "
                       r"received 'last'"),
    ({"axis": []}, r"expected axis to be an int or a non-empty list of ints, received \[\]"),
    ({"axis": [1, 2.0]}, r"expected axis to be an int or a non-empty list of ints"),
    ({"rms_scaling": 1}, r"expected rms_scaling to be True or False, received 1"),
    ({"epsilon": "small"}, r"expected epsilon to be a finite number"),
    ({"gamma_constraint": "nonnegative"}, r"gamma_constraint: Unknown constraint"),
])
def test_layer_normalization_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln': " + message):
        LayerNormalization(name="ln", **kwargs)


@pytest.mark.parametrize(("cls", "kwargs", "shape", "message"), [
    (BatchNormalization, {"axis": 3}, (None, 4, 2),
     r"axis 3 is out of bounds for an input of rank 3 \(axis=3\)"),
    (BatchNormalization, {"axis": 0}, (None, 4), r"cannot normalize over the batch axis 0"),
    (BatchNormalization, {}, (None, 4, None), r"expected a known, positive size on axis -1"),
    (BatchNormalization, {}, (None,), r"expected an input shape \(batch, ...\)"),
    (LayerNormalization, {"axis": [1, -2]}, (None, 4, 2), r"expected distinct axes"),
    (LayerNormalization, {"axis": -4}, (None, 4, 2), r"axis -4 is out of bounds"),
    (LayerNormalization, {"axis": [0, 1]}, (None, 4, 2), r"cannot normalize over the batch"),
    (LayerNormalization, {"axis": 1}, (None, None, 2), r"expected known, positive sizes"),
])
def test_bad_build_shapes_are_refused(cls, kwargs, shape, message):
    layer = cls(name="norm", **kwargs)
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'norm': {message}"):
        layer.build(shape)
    if "bounds" in message or "batch axis" in message or "distinct" in message:
        with pytest.raises(ValueError, match=rf"{cls.__name__} 'norm': {message}"):
            layer.compute_output_shape(shape)


def test_bad_call_inputs_are_refused():
    layer = BatchNormalization(name="bn")
    layer.build((None, 3, 4))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': expected input of shape "
                                         r"\(None, 3, 4\) .*received shape \(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': expected input of shape"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': expected a mask of shape "
                                         r"\(2, 3\) .*received \(2, 4\)"):
        layer(np.zeros((2, 3, 4)), training=True, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn': expected an input with a "
                                         r"batch axis, received shape \(4,\)"):
        layer(np.zeros(4))
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln': expected a numeric array"):
        LayerNormalization(name="ln")("abc")


# -- Keras 2 (tf_keras) configs --------------------------------------------------------------
def test_keras2_configs_read_and_written_as_tf_keras_has_them():
    from npylstm.io.keras_config import legacy_layer_config, normalize_model_config

    tf_keras_bn = {"name": "bn", "trainable": True, "dtype": "float32", "axis": [2],
                   "momentum": 0.9, "epsilon": 0.01, "center": True, "scale": False,
                   "beta_initializer": {"class_name": "Zeros", "config": {}},
                   "gamma_initializer": {"class_name": "Ones", "config": {}},
                   "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
                   "moving_variance_initializer": {"class_name": "Ones", "config": {}},
                   "beta_regularizer": None, "gamma_regularizer": None,
                   "beta_constraint": None, "gamma_constraint": None}
    model = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4, 3],
                                                "dtype": "float32", "name": "in"}},
        {"class_name": "BatchNormalization", "config": tf_keras_bn}]}}
    config = normalize_model_config(model, "2.15.0")["config"]["layers"][1]["config"]
    layer = registry.deserialize({"class_name": "BatchNormalization", "config": config})
    assert layer.axis == 2 and layer.momentum == 0.9 and not layer.scale
    written = legacy_layer_config(registry.serialize(layer), keras2=True)["config"]
    assert not {"synchronized", "renorm", "renorm_clipping", "renorm_momentum"} & set(written)
    assert written["axis"] == 2 and written["momentum"] == 0.9

    ln = LayerNormalization(name="ln")
    assert "rms_scaling" not in legacy_layer_config(registry.serialize(ln), keras2=True)[
        "config"]
    with pytest.raises(ValueError, match=r"LayerNormalization 'rms': rms_scaling=True cannot "
                                         r"be written for tf_keras"):
        legacy_layer_config(registry.serialize(LayerNormalization(rms_scaling=True,
                                                                  name="rms")), keras2=True)
