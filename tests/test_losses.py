"""Losses: value and gradient against real Keras (jax.grad of the Keras loss), float64
central differences, shape handling, names and bad input."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm import losses

# name -> (npylstm factory, Keras factory (takes the keras module), kind of data)
LOSSES = {
    "mse": (losses.MeanSquaredError, lambda k: k.losses.MeanSquaredError(), "real"),
    "mae": (losses.MeanAbsoluteError, lambda k: k.losses.MeanAbsoluteError(), "real"),
    "huber": (losses.Huber, lambda k: k.losses.Huber(), "real"),
    "huber_0.3": (
        lambda: losses.Huber(delta=0.3),
        lambda k: k.losses.Huber(delta=0.3),
        "real",
    ),
    "mape": (
        losses.MeanAbsolutePercentageError,
        lambda k: k.losses.MeanAbsolutePercentageError(),
        "real",
    ),
    "msle": (
        losses.MeanSquaredLogarithmicError,
        lambda k: k.losses.MeanSquaredLogarithmicError(),
        "positive",
    ),
    "msle_clipped": (
        losses.MeanSquaredLogarithmicError,
        lambda k: k.losses.MeanSquaredLogarithmicError(),
        "real",  # negative values hit the max(., 1e-7) clip
    ),
    "bce": (losses.BinaryCrossentropy, lambda k: k.losses.BinaryCrossentropy(), "prob"),
    "bce_logits": (
        lambda: losses.BinaryCrossentropy(from_logits=True),
        lambda k: k.losses.BinaryCrossentropy(from_logits=True),
        "logit",
    ),
    "bce_smooth": (
        lambda: losses.BinaryCrossentropy(label_smoothing=0.2),
        lambda k: k.losses.BinaryCrossentropy(label_smoothing=0.2),
        "prob",
    ),
    "cce": (
        losses.CategoricalCrossentropy,
        lambda k: k.losses.CategoricalCrossentropy(),
        "simplex",
    ),
    "cce_logits": (
        lambda: losses.CategoricalCrossentropy(from_logits=True),
        lambda k: k.losses.CategoricalCrossentropy(from_logits=True),
        "onehot_logit",
    ),
    "cce_smooth": (
        lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda k: k.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        "onehot_logit",
    ),
    "scce": (
        losses.SparseCategoricalCrossentropy,
        lambda k: k.losses.SparseCategoricalCrossentropy(),
        "ids",
    ),
    "scce_logits": (
        lambda: losses.SparseCategoricalCrossentropy(from_logits=True),
        lambda k: k.losses.SparseCategoricalCrossentropy(from_logits=True),
        "ids_logit",
    ),
    "scce_ignore": (
        lambda: losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        lambda k: k.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1),
        "ids_logit_ignore",
    ),
    "scce_ignore_probs": (
        lambda: losses.SparseCategoricalCrossentropy(ignore_class=0),
        lambda k: k.losses.SparseCategoricalCrossentropy(ignore_class=0),
        "ids",
    ),
    "cce_probs_smooth": (
        lambda: losses.CategoricalCrossentropy(label_smoothing=0.2),
        lambda k: k.losses.CategoricalCrossentropy(label_smoothing=0.2),
        "simplex",
    ),
    "bce_logits_smooth": (
        lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3),
        lambda k: k.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3),
        "logit",
    ),
    "kld": (losses.KLDivergence, lambda k: k.losses.KLDivergence(), "two_simplex"),
    "poisson": (losses.Poisson, lambda k: k.losses.Poisson(), "positive"),
    "log_cosh": (losses.LogCosh, lambda k: k.losses.LogCosh(), "real"),
    "cosine": (losses.CosineSimilarity, lambda k: k.losses.CosineSimilarity(), "real"),
    "hinge": (losses.Hinge, lambda k: k.losses.Hinge(), "pm1"),
    "hinge_01": (losses.Hinge, lambda k: k.losses.Hinge(), "prob"),  # 0/1 labels -> -1/1
    "squared_hinge": (losses.SquaredHinge, lambda k: k.losses.SquaredHinge(), "pm1"),
    "categorical_hinge": (
        losses.CategoricalHinge,
        lambda k: k.losses.CategoricalHinge(),
        "onehot_logit",
    ),
}
CATEGORICAL = {"cce", "cce_logits", "cce_smooth", "cce_probs_smooth", "categorical_hinge"}
SPARSE = {"scce", "scce_logits", "scce_ignore", "scce_ignore_probs"}
# the losses added later run over fewer shapes (the rank handling is shared, tested above)
FEWER_SHAPES = {"kld", "poisson", "log_cosh", "cosine", "hinge", "hinge_01", "squared_hinge",
                "bce_logits_smooth"}

# (y_true shape, y_pred shape): equal shapes, and the rank mismatches Keras reconciles.
SHAPES = [
    ((5,), (5,)),
    ((5, 1), (5, 1)),
    ((4, 3), (4, 3)),
    ((3, 4, 2), (3, 4, 2)),
    ((6,), (6, 1)),  # y_true expanded to (6, 1)
    ((6, 1), (6,)),  # y_pred expanded to (6, 1)
    ((2, 3, 1), (2, 3)),  # y_true squeezed to (2, 3)
    ((2, 3), (2, 3, 1)),  # y_pred squeezed to (2, 3)
]
CATEGORICAL_SHAPES = [((4, 3), (4, 3)), ((2, 5, 4), (2, 5, 4)), ((1, 2), (1, 2))]
NEW_SHAPES = [((4, 3), (4, 3)), ((3, 4, 2), (3, 4, 2)), ((2, 3), (2, 3, 1))]
# integer ids: (batch,), (batch, 1), a tagger's (batch, T) and (batch, T, 1)
SPARSE_SHAPES = [((4,), (4, 3)), ((4, 1), (4, 3)), ((2, 5), (2, 5, 4)), ((2, 5, 1), (2, 5, 4))]


def make_data(kind: str, true_shape, pred_shape, rng, dtype=np.float32):
    """Targets and predictions kept away from kinks (|e| = 0, |e| = delta, clip bounds)."""
    if kind in ("real", "positive"):
        y_true = rng.uniform(0.5, 2.0, true_shape) * rng.choice([-1, 1], true_shape)
        offset = rng.uniform(0.05, 1.5, pred_shape) * rng.choice([-1, 1], pred_shape)
        y_pred = y_true.reshape(pred_shape) + offset  # |error| >= 0.05
        if kind == "positive":
            y_true, y_pred = np.abs(y_true), np.abs(y_pred) + 0.01
    elif kind == "prob":
        y_true = rng.integers(0, 2, true_shape).astype(float)
        y_pred = rng.uniform(0.05, 0.95, pred_shape)
    elif kind == "logit":
        y_true = rng.integers(0, 2, true_shape).astype(float)
        y_pred = rng.normal(0, 3, pred_shape)
    elif kind == "simplex":
        y_true = rng.dirichlet(np.ones(true_shape[-1]), true_shape[:-1])
        y_pred = rng.uniform(0.1, 1.0, pred_shape)  # not normalized: Keras divides by the sum
    elif kind in ("ids", "ids_logit", "ids_logit_ignore"):
        classes = pred_shape[-1]
        y_true = rng.integers(0, classes, true_shape)
        if kind == "ids_logit_ignore":
            y_true[rng.random(true_shape) < 0.3] = -1
        if kind == "ids":
            y_pred = rng.uniform(0.1, 1.0, pred_shape)  # not normalized
        else:
            y_pred = rng.normal(0, 2, pred_shape)
        return y_true, y_pred.astype(dtype)  # ids stay integers
    elif kind == "two_simplex":
        y_true = rng.dirichlet(np.ones(true_shape[-1]), true_shape[:-1])
        y_pred = rng.dirichlet(np.ones(true_shape[-1]), true_shape[:-1]).reshape(pred_shape)
    elif kind == "pm1":
        y_true = rng.choice([-1.0, 1.0], true_shape)
        y_pred = rng.normal(0, 1.5, pred_shape)
    elif kind == "onehot_logit":
        y_true = np.eye(true_shape[-1])[rng.integers(0, true_shape[-1], true_shape[:-1])]
        y_pred = rng.normal(0, 2, pred_shape)
    else:
        raise AssertionError(kind)
    return y_true.astype(dtype), y_pred.astype(dtype)


def keras_value_and_grad(keras, keras_loss, y_true, y_pred):
    import jax

    value, grad = jax.value_and_grad(lambda p: keras_loss(y_true, p))(y_pred)
    return float(value), np.asarray(grad)


def cases():
    for name in LOSSES:
        shapes_for = (
            SPARSE_SHAPES if name in SPARSE else CATEGORICAL_SHAPES if name in CATEGORICAL
            else NEW_SHAPES if name in FEWER_SHAPES else SHAPES
        )
        for shapes in shapes_for:
            yield pytest.param(name, shapes, id=f"{name}-{shapes[0]}-{shapes[1]}")


@pytest.mark.keras
@pytest.mark.parametrize("name, shapes", list(cases()))
def test_value_and_gradient_match_keras(keras, name, shapes):
    ours, theirs, kind = LOSSES[name]
    rng = np.random.default_rng(zlib.crc32(repr((name, shapes)).encode()))
    y_true, y_pred = make_data(kind, *shapes, rng)
    value, grad = ours()(y_true, y_pred)
    k_value, k_grad = keras_value_and_grad(keras, theirs(keras), y_true, y_pred)
    assert grad.shape == y_pred.shape and grad.dtype == np.float32
    np.testing.assert_allclose(value, k_value, rtol=2e-6)
    scale = np.max(np.abs(k_grad))
    np.testing.assert_allclose(grad, k_grad, rtol=2e-5, atol=1e-6 * scale)
    if "ignore" in name:
        return  # the ignored entries are masked out of the mean, not of per_sample
    # per-sample values average to the reduced value (the model weights batches by them)
    per_sample = ours().per_sample(y_true, y_pred)
    assert per_sample.shape == (shapes[1][0],)
    np.testing.assert_allclose(per_sample.mean(), value, rtol=1e-6)


@pytest.mark.keras
@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(["mse", "mae", "huber", "mape", "bce_logits"]),
    batch=st.integers(1, 3),
    width=st.integers(1, 3),
    seed=st.integers(0, 2**31),
)
def test_random_values_match_keras(keras, name, batch, width, seed):
    ours, theirs, kind = LOSSES[name]
    y_true, y_pred = make_data(kind, (batch, width), (batch, width), np.random.default_rng(seed))
    value, grad = ours()(y_true, y_pred)
    k_value, k_grad = keras_value_and_grad(keras, theirs(keras), y_true, y_pred)
    np.testing.assert_allclose(value, k_value, rtol=2e-6)
    np.testing.assert_allclose(grad, k_grad, rtol=2e-5, atol=1e-6 * np.max(np.abs(k_grad)))


@pytest.mark.parametrize("name, shapes", list(cases()))
def test_gradient_matches_central_difference_float64(name, shapes):
    ours, _, kind = LOSSES[name]
    loss = ours()
    rng = np.random.default_rng(7)
    y_true, y_pred = make_data(kind, *shapes, rng, dtype=np.float64)
    value, grad = loss(y_true, y_pred)
    assert grad.dtype == np.float64
    h = 1e-6
    numeric = np.zeros_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (loss(y_true, plus)[0] - loss(y_true, minus)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8 * max(1.0, abs(value)))


@pytest.mark.keras
def test_kinks_follow_jax(keras):
    """Exact zero errors, values on the clip bounds, zero targets for mape."""
    eps = np.float32(1e-7)
    t = np.array([[1.0, 0.0, 2.0, 0.0]], dtype=np.float32)
    p = np.array([[1.0, 0.3, 2.0, eps]], dtype=np.float32)
    for ours, theirs in [
        (losses.MeanAbsoluteError(), keras.losses.MeanAbsoluteError()),
        (losses.Huber(), keras.losses.Huber()),
        (losses.MeanAbsolutePercentageError(), keras.losses.MeanAbsolutePercentageError()),
        (losses.MeanSquaredLogarithmicError(), keras.losses.MeanSquaredLogarithmicError()),
    ]:
        value, grad = ours(t, p)
        k_value, k_grad = keras_value_and_grad(keras, theirs, t, p)
        np.testing.assert_allclose(value, k_value, rtol=2e-6, err_msg=ours.name)
        np.testing.assert_allclose(grad, k_grad, rtol=2e-6, err_msg=ours.name)
    # probabilities exactly 0, 1 and on the clip bounds
    t = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    p = np.array([[0.0, 1.0, eps, 1 - eps, 0.5]], dtype=np.float32)
    value, grad = losses.BinaryCrossentropy()(t, p)
    k_value, k_grad = keras_value_and_grad(keras, keras.losses.BinaryCrossentropy(), t, p)
    np.testing.assert_allclose(value, k_value, rtol=2e-6)
    np.testing.assert_allclose(grad, k_grad, rtol=2e-6)


def test_hand_computed_values():
    t = np.array([[0.0, 1.0], [0.0, 0.0]])
    p = np.array([[0.6, 0.4], [0.4, 0.6]])
    # mse: rows (0.36 + 0.36)/2 = 0.36 and (0.16 + 0.36)/2 = 0.26 -> mean 0.31
    assert losses.get("mse")(t, p)[0] == pytest.approx(0.31)
    # huber (delta 1): 0.5 e^2 -> rows (0.18 + 0.18)/2, (0.08 + 0.18)/2 -> 0.155 (Keras doc)
    assert losses.get("huber")(t, p)[0] == pytest.approx(0.155)
    # bce rows: -(log 0.4 + log 0.4)/2 = 0.9163, -(log 0.6 + log 0.4)/2 = 0.7136 (Keras doc)
    np.testing.assert_allclose(losses.get("bce").values(t, p), [0.91629, 0.71355], rtol=1e-4)
    # cce (Keras doc): [[0,1,0],[0,0,1]] vs [[.05,.95,0],[.1,.8,.1]] -> [0.0513, 2.3026]
    cce = losses.get("categorical_crossentropy")
    v = cce.values([[0, 1, 0], [0, 0, 1]], np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]))
    np.testing.assert_allclose(v, [-np.log(0.95), -np.log(0.1)], rtol=1e-6)


def test_one_dimensional_targets_reduce_over_the_whole_batch():
    # y (batch,) against y (batch,): Keras's mean over the last axis is the batch mean.
    t, p = np.array([0.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0])
    loss = losses.get("mae")
    assert loss.values(t, p).shape == ()
    assert loss(t, p)[0] == pytest.approx(2.0)
    np.testing.assert_allclose(loss.per_sample(t, p), [1.0, 2.0, 3.0])


def test_dtypes():
    t = np.array([[1, 0]])  # int targets are cast to y_pred's dtype
    for dtype in (np.float32, np.float64):
        value, grad = losses.get("mse")(t, np.array([[0.5, 0.5]], dtype=dtype))
        assert isinstance(value, float) and grad.dtype == dtype
    value, grad = losses.get("mse")([[1, 0]], [[0, 0]])  # lists of ints -> float32
    assert value == 0.5 and grad.dtype == np.float32


def test_get_names_and_aliases():
    expected = {
        "mse": losses.MeanSquaredError,
        "MSE": losses.MeanSquaredError,
        "mean_squared_error": losses.MeanSquaredError,
        "mae": losses.MeanAbsoluteError,
        "mean_absolute_error": losses.MeanAbsoluteError,
        "huber": losses.Huber,
        "mape": losses.MeanAbsolutePercentageError,
        "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
        "msle": losses.MeanSquaredLogarithmicError,
        "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
        "bce": losses.BinaryCrossentropy,
        "binary_crossentropy": losses.BinaryCrossentropy,
        "categorical_crossentropy": losses.CategoricalCrossentropy,
        "CategoricalCrossentropy": losses.CategoricalCrossentropy,
        "Huber": losses.Huber,
    }
    for name, cls in expected.items():
        loss = losses.get(name)
        assert type(loss) is cls, name
    assert losses.get("mse").name == "mse"
    assert losses.get("Huber").name == "huber_loss"
    instance = losses.Huber(delta=2.0)
    assert losses.get(instance) is instance
    assert losses.get({"class_name": "Huber", "config": {"delta": 2.0}}).delta == 2.0


@pytest.mark.keras
def test_names_are_exactly_keras_names(keras):
    """Every string we accept, Keras accepts too, as the same class with the same name."""
    from keras.src.trainers.compile_utils import get_loss

    k_names = {
        "MeanSquaredError": "mean_squared_error",
        "MeanAbsoluteError": "mean_absolute_error",
        "Huber": "huber",
        "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
        "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
        "BinaryCrossentropy": "binary_crossentropy",
        "CategoricalCrossentropy": "categorical_crossentropy",
        "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
        "KLDivergence": "kl_divergence",
        "Poisson": "poisson",
        "LogCosh": "log_cosh",
        "CosineSimilarity": "cosine_similarity",
        "Hinge": "hinge",
        "SquaredHinge": "squared_hinge",
        "CategoricalHinge": "categorical_hinge",
    }
    y_true, y_pred = np.zeros(2), np.full((2, 3), 1 / 3)  # "crossentropy": sparse
    for name in losses.names():
        ours = losses.get(name)
        theirs = get_loss(name, y_true, y_pred)
        assert ours.name == theirs.name, name
        if name.lower() in ("crossentropy", "ce"):
            ours(y_true, y_pred)
            ours = ours.loss
        fn = getattr(theirs, "fn", None)
        assert fn.__name__ == k_names[type(ours).__name__], name


@pytest.mark.keras
@pytest.mark.parametrize("name, kind", [("crossentropy", "binary"), ("ce", "sparse"),
                                        ("CE", "sparse_tagger"), ("Crossentropy", "onehot")])
def test_crossentropy_string_is_resolved_from_the_shapes_as_keras(keras, name, kind):
    from keras.src.trainers.compile_utils import get_loss

    rng = np.random.default_rng(len(kind))
    if kind == "binary":
        y_true, y_pred = make_data("prob", (6,), (6, 1), rng)
    elif kind == "sparse":
        y_true, y_pred = make_data("ids", (6,), (6, 4), rng)
    elif kind == "sparse_tagger":
        y_true, y_pred = make_data("ids", (2, 5), (2, 5, 4), rng)
    else:
        y_true, y_pred = make_data("simplex", (6, 4), (6, 4), rng)
    ours, theirs = losses.get(name), get_loss(name, y_true, y_pred)
    value, grad = ours(y_true, y_pred)
    k_value, k_grad = keras_value_and_grad(keras, theirs, y_true, y_pred)
    assert ours.name == theirs.name == name
    np.testing.assert_allclose(value, k_value, rtol=2e-6)
    np.testing.assert_allclose(grad, k_grad, rtol=2e-5, atol=1e-7)
    assert losses.serialize(ours) == name


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"Unknown loss 'mean_sqared_error'.*Did you mean "
        r"'mean_squared_error'.*Expected one of: .*mse",
    ):
        losses.get("mean_sqared_error")
    with pytest.raises(ValueError, match="Unknown loss 'Mse'"):
        losses.get("Mse")  # Keras's names are case-sensitive
    with pytest.raises(TypeError, match="expected a loss name"):
        losses.get(3)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(
        ValueError,
        match=r"MeanSquaredError: y_true shape \(4, 1\) does not "
        r"match y_pred shape \(4, 5\)",
    ):
        losses.get("mse")(np.zeros((4, 1)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"y_true shape \(3,\) does not match y_pred shape \(4,\)"):
        losses.get("mae")(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        losses.get("mae")(np.float32(1.0), np.float32(2.0))
    with pytest.raises(ValueError, match="empty arrays"):
        losses.get("mae")(np.zeros((0, 2)), np.zeros((0, 2)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes > 1.*BinaryCrossentropy"):
        losses.CategoricalCrossentropy()(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="Huber: expected delta >= 0"):
        losses.Huber(delta=-1.0)
    with pytest.raises(ValueError, match=r"label_smoothing in \[0, 1\]"):
        losses.BinaryCrossentropy(label_smoothing=1.5)


@pytest.mark.parametrize("name", sorted(set(LOSSES) - SPARSE))
def test_nan_and_inf_propagate_without_warnings(name):
    """As in Keras a NaN/inf prediction gives a NaN/inf loss silently (fit then stops on it)."""
    loss = LOSSES[name][0]()
    y_pred = np.array([[0.2, np.nan, 0.5], [np.inf, -np.inf, 0.0]], dtype=np.float32)
    y_true = np.array([[0.0, 1.0, 0.0], [np.inf, 0.0, 1.0]], dtype=np.float32)
    value, grad = loss(y_true, y_pred)  # pytest turns any RuntimeWarning into an error
    assert not np.isfinite(value)
    assert grad.shape == y_pred.shape
    assert not np.isfinite(loss.per_sample(y_true, y_pred)).all()


def test_sparse_nan_and_inf_propagate_without_warnings():
    y_pred = np.array([[0.2, np.nan, 0.5], [np.inf, 1.0, 0.0]], dtype=np.float32)
    for from_logits in (False, True):
        loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        value, grad = loss(np.array([0, 1]), y_pred)
        assert not np.isfinite(value) and grad.shape == y_pred.shape


def _keras_masked_value_and_grad(keras_loss, y_true, y_pred, mask):
    """Keras's loss of a y_pred that carries the output's mask, as a model passes it."""
    import jax
    from keras.src.backend.common.masking import set_keras_mask

    def fn(p):
        set_keras_mask(p, mask)
        return keras_loss(y_true, p)

    value, grad = jax.value_and_grad(fn)(y_pred)
    return float(value), np.asarray(grad)


@pytest.mark.keras
@pytest.mark.parametrize("name", ["scce", "scce_logits", "scce_ignore", "cce_logits", "bce"])
def test_masked_tagger_loss_matches_keras(keras, name):
    """A tagger's (B, T, C) output with a time mask (and ignore_class's own mask with it)."""
    ours, theirs, kind = LOSSES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    shapes = ((3, 6), (3, 6, 4)) if name in SPARSE else ((3, 6, 4), (3, 6, 4))
    y_true, y_pred = make_data(kind, *shapes, rng)
    mask = rng.random((3, 6)) < 0.6
    mask[0] = False  # a sequence without a real step
    value, grad = ours()(y_true, y_pred, mask=mask)
    k_value, k_grad = _keras_masked_value_and_grad(theirs(keras), y_true, y_pred, mask)
    np.testing.assert_allclose(value, k_value, rtol=2e-6)
    np.testing.assert_allclose(grad, k_grad, rtol=2e-5, atol=1e-7)
    assert not grad[~mask].any()


def test_masked_sparse_gradient_matches_central_difference_float64():
    rng = np.random.default_rng(5)
    y_true = rng.integers(-1, 4, (2, 5))
    y_pred = rng.uniform(0.1, 1.0, (2, 5, 4))
    mask = rng.random((2, 5)) < 0.7
    for loss in (losses.SparseCategoricalCrossentropy(ignore_class=-1),
                 losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)):
        value, grad = loss(y_true, y_pred, mask=mask)
        h, numeric = 1e-6, np.zeros_like(y_pred)
        for i in np.ndindex(y_pred.shape):
            plus, minus = y_pred.copy(), y_pred.copy()
            plus[i] += h
            minus[i] -= h
            numeric[i] = (loss(y_true, plus, mask=mask)[0]
                          - loss(y_true, minus, mask=mask)[0]) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_sparse_hand_values():
    # Keras's doc example: ids [1, 2] against [[.05, .95, 0], [.1, .8, .1]] -> 1.177
    loss = losses.get("sparse_categorical_crossentropy")
    p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    assert loss([1, 2], p)[0] == pytest.approx((-np.log(0.95) - np.log(0.1)) / 2)
    # ids as floats (a model's float32 targets) and as (batch, 1) give the same
    assert loss(np.array([[1.0], [2.0]], np.float32), p)[0] == pytest.approx(loss([1, 2], p)[0])
    # ignore_class: the ignored row is out of the mean
    ignore = losses.SparseCategoricalCrossentropy(ignore_class=2)
    assert ignore([1, 2], p)[0] == pytest.approx(-np.log(0.95))


def test_sparse_bad_targets():
    loss = losses.SparseCategoricalCrossentropy()
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\).*received 3"):
        loss([0, 3], p)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 3\).*received -1"):
        loss([0, -1], p)
    with pytest.raises(ValueError, match="expected integer class ids, received 0.5"):
        loss([0, 0.5], p)
    with pytest.raises(ValueError, match=r"ids of shape \(2,\).*received y_true shape \(2, 3\)"
                       r".*CategoricalCrossentropy"):
        loss(np.eye(3)[:2], p)
    with pytest.raises(ValueError, match=r"y_pred of shape \(batch, \.\.\., num_classes\)"):
        loss([0, 1], np.zeros(2))
    with pytest.raises(ValueError, match="ignore_class None or an integer"):
        losses.SparseCategoricalCrossentropy(ignore_class=0.5)
    with pytest.raises(ValueError, match="only axis=-1"):
        losses.SparseCategoricalCrossentropy(axis=1)
    with pytest.raises(ValueError, match=r"mask of the per-sample values' shape \(2,\)"):
        loss([0, 1], p, mask=np.ones((2, 1), bool))


def test_categorical_hinge_ties_share_the_gradient():
    # neg = max((1 - t) * p) is tied between classes 1 and 2: each gets half, as JAX's max
    value, grad = losses.CategoricalHinge()([[1.0, 0.0, 0.0]], [[0.5, 0.8, 0.8]])
    assert value == pytest.approx(0.8 - 0.5 + 1)
    np.testing.assert_allclose(grad, [[-1.0, 0.5, 0.5]])


KERAS_CLASSES = [
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": -1}),
    ("SparseCategoricalCrossentropy", {}),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("BinaryCrossentropy", {"label_smoothing": 0.2}),
    ("KLDivergence", {}),
    ("Poisson", {}),
    ("LogCosh", {}),
    ("CosineSimilarity", {}),
    ("Hinge", {}),
    ("SquaredHinge", {}),
    ("CategoricalHinge", {}),
    ("MeanSquaredError", {}),
]


@pytest.mark.keras
@pytest.mark.parametrize("class_name, kwargs", KERAS_CLASSES,
                         ids=[f"{c}-{len(k)}" for c, k in KERAS_CLASSES])
def test_configs_and_serialized_forms_match_keras(keras, class_name, kwargs):
    theirs = getattr(keras.losses, class_name)(**kwargs)
    ours = getattr(losses, class_name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    # the form a file's compile_config holds, read back (Keras writes it so)
    serialized = keras.losses.serialize(theirs)
    assert losses.serialize(ours) == serialized
    again = losses.get(serialized)
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    # and Keras reads ours
    assert keras.losses.get(losses.serialize(ours)).get_config() == theirs.get_config()


def test_string_losses_serialize_as_the_string():
    for name in ("sparse_categorical_crossentropy", "kld", "log_cosh", "mse"):
        assert losses.serialize(losses.get(name)) == name
    with pytest.raises(ValueError, match="only reduction='sum_over_batch_size'"):
        losses.get({"class_name": "Hinge", "config": {"reduction": "sum"}})
    with pytest.raises(ValueError, match="Poisson: bad config"):
        losses.get({"class_name": "Poisson", "config": {"delta": 1.0}})
