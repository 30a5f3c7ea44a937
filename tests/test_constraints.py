"""Weight constraints (``npylstm.constraints``) against Keras 3.15.1's ``keras.constraints``.

* each constraint's values on random arrays: float32 against Keras (JAX backend), float64
  against PyTorch float64 (Keras's JAX backend has no float64 without x64);
* ``get`` / ``serialize`` / ``deserialize``: Keras's serialized form both ways, the string
  names, tf_keras's form; bad inputs refused clearly;
* every constrained layer: its config equals Keras's with the constraints set, each weight
  carries the constraint Keras's weight carries, and ``.keras`` files round-trip both ways;
* training: the weights after each of 6 ``train_on_batch`` steps equal Keras's (SGD and
  Adam, identical initial weights), with the constraints visibly active.

Measured when written (largest difference relative to the largest value compared): values
float32 1.5e-7 (a 40-long axis: XLA sums in another order; short axes bit for bit), float64
against PyTorch 4.8e-16; configs and weights' constraints equal Keras's exactly; training, 6
steps: SGD model (Embedding, Conv1D, LSTM, Dense) 3.5e-7, Adam model (BatchNormalization,
PReLU, Dense) 1.9e-7, a Python function as the constraint (3 steps) 1.0e-7 (the tolerance
asked for is 1e-6). The three training tests are marked slow (~15 s each: Keras's
compilation).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import npylstm
from npylstm import constraints
from npylstm import layers as L

SHAPES_AXES = [((5, 4), 0), ((5, 4), 1), ((5, 4), -1), ((3, 4, 5), 1), ((3, 4, 5), [0, 1]),
               ((3, 4, 5), [1, 2]), ((6,), 0), ((40, 30), 0)]


def _pairs(lib, axis):
    return [("MaxNorm", lib.MaxNorm(1.5, axis)), ("UnitNorm", lib.UnitNorm(axis)),
            ("MinMaxNorm", lib.MinMaxNorm(0.5, 1.5, 0.7, axis)), ("NonNeg", lib.NonNeg())]


def keras_weights(obj) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in obj.weights]


def relative(a, b, floor: float = 1e-30) -> float:
    """The largest difference relative to the largest value compared (at least ``floor``)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), floor))


# -- values ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_values_match_keras_float32(keras, shape, axis):
    w = (np.random.default_rng(len(shape) * 7 + 3).normal(size=shape) * 2).astype("float32")
    ours, theirs = _pairs(constraints, axis), _pairs(keras.constraints, axis)
    for (name, mine), (_, keras_one) in zip(ours, theirs, strict=True):
        expected = np.asarray(keras_one(keras.ops.convert_to_tensor(w)))
        got = mine(w)
        assert got.dtype == np.float32, name
        assert relative(got, expected) <= 3e-7, (name, relative(got, expected))
        if not isinstance(axis, list) and shape != (40, 30):  # one short axis: every bit
            np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize(("shape", "axis"), SHAPES_AXES)
def test_values_match_torch_float64(shape, axis):
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(11).normal(size=shape) * 2
    t = torch.from_numpy(w)
    dims = tuple(axis) if isinstance(axis, list) else axis
    norms = torch.linalg.vector_norm(t, dim=dims, keepdim=True)
    eps = 1e-7
    expected = {
        "MaxNorm": t * (norms.clamp(0, 1.5) / (eps + norms)),
        "UnitNorm": t / (eps + norms),
        "MinMaxNorm": t * ((0.7 * norms.clamp(0.5, 1.5) + 0.3 * norms) / (eps + norms)),
        "NonNeg": t.clamp(min=0),
    }
    for name, mine in _pairs(constraints, axis):
        got = mine(w)
        assert got.dtype == np.float64
        assert relative(got, expected[name].numpy()) <= 1e-14, name


def test_constraints_do_what_they_say():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    np.testing.assert_allclose(np.linalg.norm(constraints.MaxNorm(2.0)(w), axis=0),
                               [2.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm()(w), axis=0), 1.0,
                               rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(constraints.MinMaxNorm(1.0, 2.0)(w), axis=0),
                               [2.0, 1.0], rtol=1e-6)
    half = constraints.MinMaxNorm(1.0, 2.0, rate=0.5)(w)  # halfway: 3.5 and 0.75
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [3.5, 0.75], rtol=1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(np.array([-2.0, 0.0, 3.0])),
                                  [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(constraints.Constraint()(w), w)


# -- get / serialize / deserialize ---------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda c: c.MaxNorm(3, axis=[0, 1]), lambda c: c.MaxNorm(), lambda c: c.NonNeg(),
    lambda c: c.UnitNorm(axis=1), lambda c: c.MinMaxNorm(0.1, 0.9, 0.5, -1),
    lambda c: c.max_norm(1.5), lambda c: c.min_max_norm(),
])
def test_serialized_forms_match_keras(keras, make):
    ours, theirs = make(constraints), make(keras.constraints)
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    assert ours.get_config() == theirs.get_config()
    back = keras.constraints.deserialize(constraints.serialize(ours))
    assert type(back).__name__ == type(ours).__name__ and back.get_config() == ours.get_config()
    again = constraints.deserialize(keras.constraints.serialize(theirs))
    assert again == ours


@pytest.mark.parametrize("name", ["max_norm", "MaxNorm", "non_neg", "NonNeg", "unit_norm",
                                  "UnitNorm", "min_max_norm", "MinMaxNorm"])
def test_names_give_keras_defaults(keras, name):
    ours, theirs = constraints.get(name), keras.constraints.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.get_config() == theirs.get_config()


def test_get_other_forms():
    assert constraints.get(None) is None
    one = constraints.UnitNorm(axis=1)
    assert constraints.get(one) is one
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)

    def clip(w):
        return np.clip(w, -1, 1)

    assert constraints.get(clip) is clip  # a callable is used as is, as Keras
    assert constraints.serialize(clip) is clip  # nothing to write: kept in memory
    # tf_keras's serialized form (no module) and its legacy aliases
    keras2 = {"class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0}}
    assert constraints.get(keras2) == constraints.MaxNorm(3, 0)
    assert isinstance(constraints.get("maxnorm"), constraints.MaxNorm)
    assert isinstance(constraints.get("nonneg"), constraints.NonNeg)
    assert isinstance(constraints.get("unitnorm"), constraints.UnitNorm)
    assert constraints.get({"class_name": "UnitNorm"}).axis == 0


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: constraints.MaxNorm(-1.0), ValueError, r"MaxNorm: expected max_value >= 0"),
    (lambda: constraints.MaxNorm(float("inf")), ValueError, r"max_value >= 0.0 and finite"),
    (lambda: constraints.MaxNorm("2"), TypeError, r"MaxNorm: expected max_value to be a num"),
    (lambda: constraints.MaxNorm(True), TypeError, r"expected max_value to be a number"),
    (lambda: constraints.MaxNorm(2, axis=1.0), TypeError, r"MaxNorm: expected axis to be an"),
    (lambda: constraints.UnitNorm(axis=[]), TypeError, r"UnitNorm: expected axis to be an"),
    (lambda: constraints.MinMaxNorm(-0.1), ValueError, r"expected min_value >= 0"),
    (lambda: constraints.MinMaxNorm(2.0, 1.0), ValueError, r"expected max_value >= 2.0"),
    (lambda: constraints.MinMaxNorm(rate=1.5), ValueError, r"expected rate in \[0.0, 1.0\]"),
    (lambda: constraints.get("nonnegative"), ValueError, r"Unknown constraint 'nonnegative'"),
    (lambda: constraints.get("RadialConstraint"), ValueError, r"Unknown constraint"),
    (lambda: constraints.get(3), ValueError, r"Could not interpret constraint identifier 3"),
    (lambda: constraints.get(int), ValueError, r"Could not interpret constraint identifier"),
    (lambda: constraints.get({"class_name": "Evil", "config": {}}), ValueError,
     r"Unknown constraint 'Evil'"),
    (lambda: constraints.get({"module": "os", "class_name": "NonNeg", "config": {}}),
     ValueError, r"Unknown constraint"),
    (lambda: constraints.get({"module": "keras.constraints", "class_name": "NonNeg",
                              "config": {}, "registered_name": "custom>NonNeg"}),
     ValueError, r"Unknown constraint"),
    (lambda: constraints.get({"config": {}}), ValueError, r"with a 'class_name'"),
    (lambda: constraints.get({"class_name": "MaxNorm", "config": {"m": 2}}), ValueError,
     r"MaxNorm: unknown config keys \['m'\]"),
    (lambda: constraints.MaxNorm(axis=2)(np.ones((2, 2))), ValueError,
     r"MaxNorm: axis=2 is out of range for a weight of shape \(2, 2\)"),
])
def test_bad_constraints_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_layer_names_itself_and_the_argument():
    with pytest.raises(ValueError, match=r"Dense 'd': kernel_constraint: Unknown constraint"):
        L.Dense(2, kernel_constraint="nonneg_please", name="d")
    with pytest.raises(ValueError, match=r"LSTM 'r': recurrent_constraint: MaxNorm: expected "
                                         r"max_value >= 0"):
        L.LSTM(2, recurrent_constraint={"class_name": "MaxNorm", "config": {"max_value": -2}},
               name="r")
    with pytest.raises(TypeError, match=r"Embedding 'e': embeddings_constraint: UnitNorm: "
                                        r"expected axis"):
        L.Embedding(4, 2, name="e",
                    embeddings_constraint={"class_name": "UnitNorm", "config": {"axis": "rows"}})


# -- layers: configs and weights -----------------------------------------------------------
def _layer_cases(lib):
    """(layer, input shape or None, {weight name: constraint}) for each constrained layer."""
    c = lib.constraints
    return [
        (lib.layers.Dense(3, kernel_constraint=c.MaxNorm(1.5), bias_constraint="non_neg"),
         (None, 4)),
        (lib.layers.Conv1D(2, 3, kernel_constraint=c.MaxNorm(2, axis=[0, 1]),
                           bias_constraint=c.NonNeg()), (None, 6, 3)),
        (lib.layers.Embedding(7, 3, embeddings_constraint=c.UnitNorm(axis=1)), (None, 5)),
        (lib.layers.LSTM(3, kernel_constraint=c.MaxNorm(1.0), recurrent_constraint="unit_norm",
                         bias_constraint=c.MinMaxNorm(0.1, 0.5, 0.5)), (None, 4, 2)),
        (lib.layers.GRU(3, kernel_constraint="non_neg", bias_constraint=c.MaxNorm(3)),
         (None, 4, 2)),
        (lib.layers.SimpleRNN(3, recurrent_constraint=c.UnitNorm(axis=1)), (None, 4, 2)),
        (lib.layers.Bidirectional(lib.layers.LSTM(2, kernel_constraint=c.MaxNorm(1.0))),
         (None, 4, 2)),
        (lib.layers.BatchNormalization(gamma_constraint="non_neg",
                                       beta_constraint=c.MaxNorm(0.5)), (None, 4)),
        (lib.layers.LayerNormalization(gamma_constraint=c.NonNeg(), beta_constraint="max_norm"),
         (None, 4)),
        (lib.layers.PReLU(alpha_constraint="non_neg"), (None, 4)),
        (lib.layers.MultiHeadAttention(2, 3, kernel_constraint=c.MaxNorm(1.0),
                                       bias_constraint="non_neg"), None),
    ]


def _weight_constraints(layer) -> list:
    """``(weight name, constraint class, config)`` per weight in order (None without one)."""
    return [(w.path.split("/")[-1], None if w.constraint is None else (
        type(w.constraint).__name__, w.constraint.get_config())) for w in layer.weights]


@pytest.fixture(scope="module")
def layer_pairs(keras):
    npylstm.clear_session()
    keras.backend.clear_session()
    ours, theirs = _layer_cases(npylstm), _layer_cases(keras)
    for (mine, shape), (keras_layer, _) in zip(ours, theirs, strict=True):
        if isinstance(mine, L.MultiHeadAttention):
            mine.build((None, 4, 5), (None, 3, 5))
            keras_layer.build((None, 4, 5), (None, 3, 5))
        else:
            mine.build(shape)
            keras_layer.build(shape)
    return list(zip([m for m, _ in ours], [k for k, _ in theirs], strict=True))


def test_layer_configs_match_keras(layer_pairs):
    for mine, keras_layer in layer_pairs:
        theirs = keras_layer.get_config()
        got = mine.get_config()
        if isinstance(mine, L.Bidirectional):  # Keras's nested entries add a build_config
            for key in ("layer", "backward_layer"):
                assert got.pop(key)["config"] == theirs.pop(key)["config"]
        assert got == theirs, type(mine).__name__
        assert list(got) == list(theirs), type(mine).__name__  # Keras's key order
        again = type(mine).from_config(mine.get_config())
        assert again.get_config() == mine.get_config()


def test_weights_carry_keras_constraints(layer_pairs):
    for mine, keras_layer in layer_pairs:
        got = _weight_constraints(mine)
        assert got == _weight_constraints(keras_layer), type(mine).__name__
        assert any(con is not None for _, con in got)


# -- files ----------------------------------------------------------------------------------
def _stack(lib, input_fn):
    c = lib.constraints
    return [input_fn((6,), dtype="int32"),
            lib.layers.Embedding(10, 4, embeddings_constraint=c.UnitNorm(axis=1)),
            lib.layers.Conv1D(4, 2, kernel_constraint=c.MaxNorm(1.0, axis=[0, 1])),
            lib.layers.LSTM(5, kernel_constraint=c.MaxNorm(0.8), recurrent_constraint="unit_norm",
                            bias_constraint=c.MinMaxNorm(0.2, 0.5, rate=0.5)),
            lib.layers.Dense(3, kernel_constraint=c.MaxNorm(0.6), bias_constraint="non_neg")]


def _constraint_configs(model) -> list:
    return [{k: v for k, v in layer.get_config().items() if k.endswith("_constraint")}
            for layer in model.layers]


@pytest.fixture(scope="module")
def sgd_pair(keras):
    keras.utils.set_random_seed(3)
    theirs = keras.Sequential(_stack(keras, keras.Input))
    ours = npylstm.Sequential(_stack(npylstm, npylstm.Input))
    ours.build((None, 6))
    ours.set_weights(keras_weights(theirs))
    return ours, theirs


def test_keras_files_round_trip_both_ways(keras, sgd_pair, tmp_path):
    ours, theirs = sgd_pair
    expected = _constraint_configs(theirs)
    assert _constraint_configs(ours) == expected
    ours.save(tmp_path / "ours.keras")
    read_by_keras = keras.saving.load_model(tmp_path / "ours.keras", compile=False)
    assert _constraint_configs(read_by_keras) == expected
    for layer in read_by_keras.layers:
        assert any(v.constraint is not None for v in layer.weights), layer.name
    with warnings.catch_warnings():  # Keras's saver calls Variable.__array__ (NumPy 2 warns)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept")
        theirs.save(tmp_path / "theirs.keras")
    read_by_us = npylstm.load_model(tmp_path / "theirs.keras", compile=False)
    assert _constraint_configs(read_by_us) == expected
    assert [_weight_constraints(a) for a in read_by_us.layers] == [
        _weight_constraints(a) for a in ours.layers]
    ours.save(tmp_path / "ours.h5")  # the legacy format keeps them too
    assert _constraint_configs(npylstm.load_model(tmp_path / "ours.h5", compile=False)) == (
        expected)


# -- training: weights after every step ------------------------------------------------------
def _steps(ours, theirs, x, y, steps=6) -> float:
    worst = 0.0
    for step in range(steps):
        ours.train_on_batch(x, y)
        theirs.train_on_batch(x, y)
        for got, expected in zip(ours.get_weights(), keras_weights(theirs), strict=True):
            diff = relative(got, expected, floor=1e-3)  # a bias clipped to ~0: absolute
            worst = max(worst, diff)
            assert diff <= 1e-6, (step, got.shape, diff)
    return worst


@pytest.mark.slow
def test_sgd_training_with_constraints_matches_keras(keras, sgd_pair):
    ours, theirs = sgd_pair
    rng = np.random.default_rng(5)
    x = rng.integers(0, 10, size=(8, 6)).astype("int32")
    # targets of means 2, -2, 1: the non-negative bias grows in two columns, is clipped in one
    y = (rng.normal(size=(8, 3)) * 0.5 + [2.0, -2.0, 1.0]).astype("float32")
    theirs.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    ours.compile(optimizer=npylstm.optimizers.SGD(0.5), loss="mse")
    print("sgd: largest relative difference", _steps(ours, theirs, x, y))
    emb, conv, lstm, dense = ours.layers
    np.testing.assert_allclose(np.linalg.norm(emb.embeddings, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(lstm.recurrent_kernel, axis=0), 1.0, rtol=1e-5)
    # the max-norm constraints bit: some columns sit at their bound
    assert np.isclose(np.linalg.norm(dense.kernel, axis=0).max(), 0.6, rtol=1e-5)
    assert np.isclose(np.linalg.norm(lstm.kernel, axis=0).max(), 0.8, rtol=1e-5)
    assert np.linalg.norm(conv.kernel, axis=(0, 1)).max() <= 1.0 + 1e-6
    assert (dense.bias >= 0).all() and (dense.bias == 0).any() and (dense.bias > 0.1).any()


@pytest.mark.slow
def test_adam_training_with_batch_normalization_constraints_matches_keras(keras):
    keras.utils.set_random_seed(4)
    def stack(lib, input_fn):
        c = lib.constraints
        # no bias before the normalization: its gradient is 0 up to rounding noise, which
        # Adam would turn into +-lr steps (not a difference of the constraints)
        return [input_fn((4,)), lib.layers.Dense(6, use_bias=False),
                lib.layers.BatchNormalization(gamma_constraint="non_neg",
                                              beta_constraint=c.MaxNorm(0.3)),
                lib.layers.PReLU(alpha_constraint=c.NonNeg()),
                lib.layers.Dense(2, kernel_constraint="max_norm")]

    theirs = keras.Sequential(stack(keras, keras.Input))
    weights = keras_weights(theirs)
    weights[1] = np.array([0.05, -0.02, 0.5, 0.01, 1.0, 0.02], "float32")  # gamma near 0
    weights[5] = np.full(6, 0.05, "float32")  # PReLU alpha near 0
    theirs.set_weights(weights)
    ours = npylstm.Sequential(stack(npylstm, npylstm.Input))
    ours.build((None, 4))
    ours.set_weights(weights)
    rng = np.random.default_rng(9)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    theirs.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    ours.compile(optimizer=npylstm.optimizers.Adam(0.1), loss="mse")
    print("adam: largest relative difference", _steps(ours, theirs, x, y))
    bn = ours.layers[1]
    assert (bn.gamma >= 0).all() and (bn.gamma == 0).any()  # non_neg bit
    assert np.linalg.norm(bn.beta) <= 0.3 + 1e-6


@pytest.mark.slow
def test_a_callable_constraint_trains_as_keras(keras):
    keras.utils.set_random_seed(6)

    def stack(lib, input_fn, clip):
        return [input_fn((4, 3)), lib.layers.LSTM(3, recurrent_constraint=clip),
                lib.layers.Dense(2, kernel_constraint=clip)]

    def keras_clip(w):
        return keras.ops.clip(w, -0.3, 0.3)

    def clip(w):
        return np.clip(w, -0.3, 0.3)

    theirs = keras.Sequential(stack(keras, keras.Input, keras_clip))
    ours = npylstm.Sequential(stack(npylstm, npylstm.Input, clip))
    ours.build((None, 4, 3))
    ours.set_weights(keras_weights(theirs))
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4, 3)).astype("float32")
    y = (rng.normal(size=(8, 2)) * 2).astype("float32")
    theirs.compile(optimizer=keras.optimizers.SGD(0.3), loss="mse")
    ours.compile(optimizer=npylstm.optimizers.SGD(0.3), loss="mse")
    print("callable: largest relative difference", _steps(ours, theirs, x, y, steps=3))
    lstm, dense = ours.layers
    for kernel in (lstm.recurrent_kernel, dense.kernel):
        assert np.abs(kernel).max() <= 0.3 and np.isclose(np.abs(kernel).max(), 0.3)


def test_a_callable_constraint_reaches_both_directions_of_a_bidirectional():
    # Keras 3.15 cannot: its Bidirectional copies the layer through a config, and a function
    # does not deserialize; npylstm keeps the callable in the in-memory config.
    def clip(w):
        return np.clip(w, -0.3, 0.3)

    layer = L.Bidirectional(L.LSTM(3, kernel_constraint=clip))
    layer.build((None, 4, 2))
    assert layer.forward_layer.kernel_constraint is clip
    assert layer.backward_layer.kernel_constraint is clip
    assert [w.constraint for w in layer.weights].count(clip) == 2
