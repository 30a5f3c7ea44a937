"""Running metrics against Keras metric objects over unequal batches; names; bad input."""

from __future__ import annotations

import json
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npylstm import losses, metrics

# One string per metric class (every accepted alias is checked by name further down).
STRING_NAMES = [
    "mse",
    "mae",
    "mape",
    "msle",
    "root_mean_squared_error",
    "bce",
    "categorical_crossentropy",
]
# (y_true shape, y_pred shape) per sample count n; the first axis is split into batches.
SHAPES = {
    "n1": lambda n: ((n, 1), (n, 1)),
    "n3": lambda n: ((n, 3), (n, 3)),
    "flat_vs_n1": lambda n: ((n,), (n, 1)),
    "both_flat": lambda n: ((n,), (n,)),  # Keras counts each batch as one sample here
    "seq": lambda n: ((n, 4, 2), (n, 4, 2)),
}


def make_data(name, true_shape, pred_shape, rng):
    if "crossentropy" in name or name in ("bce",):
        if name.startswith("categorical"):
            y_true = np.eye(pred_shape[-1])[rng.integers(0, pred_shape[-1], pred_shape[:-1])]
            y_pred = rng.uniform(0.05, 1.0, pred_shape)
        else:
            y_true = rng.integers(0, 2, true_shape).astype(float)
            y_pred = rng.uniform(0.05, 0.95, pred_shape)
    else:
        y_true = rng.uniform(0.2, 2.0, true_shape)
        y_pred = rng.normal(1.0, 1.0, pred_shape)
        if name in ("msle",):
            y_pred = np.abs(y_pred)
    return y_true.astype(np.float32), y_pred.astype(np.float32)


def batches(n, batch_size):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def cases():
    for name in STRING_NAMES:
        for shape_id in SHAPES:
            if name == "categorical_crossentropy" and shape_id not in ("n3", "seq"):
                continue
            if name == "bce" and shape_id == "flat_vs_n1":
                continue  # Keras's bce *metric* raises here (no squeeze/expand); ours doesn't
            yield pytest.param(name, shape_id, id=f"{name}-{shape_id}")


@pytest.mark.keras
@pytest.mark.parametrize("name, shape_id", list(cases()))
def test_running_metric_matches_keras_over_unequal_batches(keras, name, shape_id):
    from keras.src.trainers.compile_utils import get_metric

    rng = np.random.default_rng(len(name) * 31 + len(shape_id))
    n = 23  # batches of 8, 8, 7
    y_true, y_pred = make_data(name, *SHAPES[shape_id](n), rng)
    ours, theirs = metrics.get(name), get_metric(name, None, None)
    assert ours.name == theirs.name == name  # the History key
    for _ in range(2):  # reset between "epochs" like fit does
        ours.reset()
        theirs.reset_state()
        for s in batches(n, 8):
            ours.update(y_true[s], y_pred[s])
            theirs.update_state(y_true[s], y_pred[s])
        np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-6)


@pytest.mark.keras
def test_metric_objects_and_losses_as_metrics_match_keras(keras):
    from keras.src.trainers.compile_utils import get_metric

    rng = np.random.default_rng(3)
    y_true, y_pred = make_data("mse", (13, 2), (13, 2), rng)
    pairs = [
        (metrics.RootMeanSquaredError(), keras.metrics.RootMeanSquaredError()),
        (metrics.MeanAbsoluteError(), keras.metrics.MeanAbsoluteError()),
        # a Loss as a metric: Keras averages the reduced loss once per batch
        (metrics.get(losses.Huber()), get_metric(keras.losses.Huber(), None, None)),
        (
            metrics.get(losses.MeanAbsoluteError()),
            get_metric(keras.losses.MeanAbsoluteError(), None, None),
        ),
    ]
    for ours, theirs in pairs:
        assert ours.name == theirs.name
        for s in batches(13, 4):  # 4, 4, 4, 1
            ours.update(y_true[s], y_pred[s])
            theirs.update_state(y_true[s], y_pred[s])
        np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-6)


@pytest.mark.keras
def test_weighted_mean_matches_keras_loss_tracker(keras):
    # fit's History["loss"]: Mean updated with each batch loss weighted by batch size
    ours, theirs = metrics.Mean(name="loss"), keras.metrics.Mean(name="loss")
    for value, size in [(0.731, 32), (0.52, 32), (0.9, 5)]:
        ours.update(np.float32(value), sample_weight=size)
        theirs.update_state(np.float32(value), sample_weight=size)
    np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-7)
    # hand check: (0.731*32 + 0.52*32 + 0.9*5) / 69
    assert ours.result() == pytest.approx((0.731 * 32 + 0.52 * 32 + 0.9 * 5) / 69, rel=1e-6)


def test_rmse_is_root_of_the_running_mean_not_mean_of_roots():
    m = metrics.get("root_mean_squared_error")
    m.update([[0.0]], [[3.0]])  # squared error 9
    m.update([[0.0], [0.0], [0.0]], [[1.0], [1.0], [1.0]])  # squared errors 1, 1, 1
    assert m.result() == pytest.approx(np.sqrt(12 / 4))  # not (3 + 1) / 2
    m.reset()
    assert m.result() == 0.0


def test_accepted_names():
    for name in metrics.names():
        assert metrics.get(name).name == name
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError)
    assert metrics.get(metrics.RootMeanSquaredError).name == "root_mean_squared_error"
    m = metrics.MeanAbsoluteError(name="my_mae")
    assert metrics.get(m) is m
    assert metrics.get(losses.Huber).name == "huber_loss"  # a Loss class, as Keras allows


@pytest.mark.keras
def test_every_accepted_name_is_accepted_by_keras(keras):
    from keras.src.trainers.compile_utils import get_metric

    y_true, y_pred = np.zeros((2,)), np.zeros((2, 3))  # resolves "accuracy" as sparse
    for name in metrics.names():
        theirs = get_metric(name, y_true, y_pred)
        assert theirs.name == name
        ours = metrics.get(name)
        if name.lower() in ("accuracy", "acc"):
            ours.update(y_true, y_pred)
            ours = ours.metric
        assert type(ours).__name__ == type(theirs).__name__
    for name in ("rmse", "huber"):
        with pytest.raises(ValueError):
            get_metric(name, None, None)


def test_unknown_and_non_keras_names():
    with pytest.raises(
        ValueError, match=r"'rmse': Keras 3 does not accept.*root_mean_squared_error"
    ):
        metrics.get("rmse")
    with pytest.raises(
        ValueError, match=r"Unknown metric 'maee'.*Did you mean 'mae'.*Expected one"
    ):
        metrics.get("maee")
    with pytest.raises(TypeError, match="expected a metric name"):
        metrics.get(1.5)


def test_shape_mismatch():
    with pytest.raises(
        ValueError, match=r"y_true shape \(4, 2\) does not match y_pred shape \(4, 3\)"
    ):
        metrics.get("mse").update(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"RootMeanSquaredError: y_true shape \(4, 2\)"):
        metrics.RootMeanSquaredError().update(np.zeros((4, 2)), np.zeros((4, 3)))


def test_nan_and_inf_propagate_without_warnings():
    y_true = np.array([[np.inf], [1.0]], dtype=np.float32)
    y_pred = np.array([[np.inf], [np.nan]], dtype=np.float32)
    for name in ("mse", "mae", "root_mean_squared_error"):
        m = metrics.get(name)
        m.update(y_true, y_pred)  # pytest turns any RuntimeWarning into an error
        assert np.isnan(m.result())


# -- accuracies and the other Keras metrics ---------------------------------------------------
def _ids(rng, shape, classes):
    return rng.integers(0, classes, shape).astype(np.float32)


def _scores(rng, shape, ties: bool):
    """Scores; with ties, few distinct values so argmax and top-k meet equal maxima."""
    if ties:
        return (rng.integers(0, 3, shape) / 2).astype(np.float32)
    return rng.uniform(0, 1, shape).astype(np.float32)


def _accuracy_data(kind, n, rng):
    """(y_true, y_pred) for n samples: 7 classes (so that k=5 of top-k matters)."""
    c, t = 7, 4
    if kind == "binary":
        return rng.integers(0, 2, (n, 1)).astype(np.float32), rng.uniform(0, 1, (n, 1))
    if kind == "binary_flat":  # y (n,) against y_pred (n, 1)
        return rng.integers(0, 2, (n,)).astype(np.float32), rng.uniform(0, 1, (n, 1))
    if kind == "binary_at_threshold":
        return (rng.integers(0, 2, (n, 2)).astype(np.float32),
                rng.choice([0.25, 0.5, 0.75], (n, 2)).astype(np.float32))
    if kind in ("sparse", "sparse_ties"):
        return _ids(rng, (n,), c), _scores(rng, (n, c), kind == "sparse_ties")
    if kind == "sparse_n1":
        return _ids(rng, (n, 1), c), _scores(rng, (n, c), False)
    if kind == "tagger":
        return _ids(rng, (n, t), c), _scores(rng, (n, t, c), True)
    if kind in ("onehot", "onehot_ties"):
        return np.eye(c, dtype=np.float32)[rng.integers(0, c, n)], _scores(
            rng, (n, c), kind == "onehot_ties")
    if kind == "onehot_seq":
        return np.eye(c, dtype=np.float32)[rng.integers(0, c, (n, t))], _scores(
            rng, (n, t, c), True)
    if kind == "exact":  # Accuracy: equal values
        return _ids(rng, (n, 2), 3), _ids(rng, (n, 2), 3)
    raise AssertionError(kind)


ACCURACY_CASES = [
    ("accuracy", "binary"), ("accuracy", "binary_flat"), ("accuracy", "sparse"),
    ("accuracy", "sparse_n1"), ("accuracy", "tagger"), ("accuracy", "onehot"),
    ("acc", "sparse_ties"), ("Accuracy", "onehot_ties"), ("ACC", "binary"),
    ("binary_accuracy", "binary"), ("binary_accuracy", "binary_at_threshold"),
    ("categorical_accuracy", "onehot_ties"), ("categorical_accuracy", "onehot_seq"),
    ("sparse_categorical_accuracy", "sparse_ties"), ("sparse_categorical_accuracy", "tagger"),
    ("sparse_categorical_accuracy", "sparse_n1"),
    ("top_k_categorical_accuracy", "onehot_ties"), ("top_k_categorical_accuracy", "onehot_seq"),
    ("sparse_top_k_categorical_accuracy", "sparse_ties"),
    ("sparse_top_k_categorical_accuracy", "tagger"),
    ("sparse_top_k_categorical_accuracy", "sparse_n1"),
    ("sparse_categorical_crossentropy", "sparse"), ("sparse_categorical_crossentropy", "tagger"),
    ("kl_divergence", "onehot"), ("poisson", "onehot"), ("hinge", "binary"),
    ("squared_hinge", "binary"), ("categorical_hinge", "onehot"),
    ("log_cosh_error", "onehot"), ("cosine_similarity", "onehot_seq"),
    ("BinaryAccuracy", "binary"), ("SparseTopKCategoricalAccuracy", "sparse"),
]


@pytest.mark.keras
@pytest.mark.parametrize("name, kind", ACCURACY_CASES,
                         ids=[f"{n}-{k}" for n, k in ACCURACY_CASES])
def test_keras_metrics_match_keras_over_unequal_batches(keras, name, kind):
    from keras.src.trainers.compile_utils import get_metric

    rng = np.random.default_rng(zlib.crc32(f"{name}{kind}".encode()))
    n = 23
    y_true, y_pred = _accuracy_data(kind, n, rng)
    if kind == "tagger" and name == "sparse_categorical_crossentropy":
        y_pred = y_pred + np.float32(0.1)  # probabilities that do not sum to 0
    ours, theirs = metrics.get(name), get_metric(name, y_true[:8], y_pred[:8])
    assert ours.name == theirs.name == name
    for _ in range(2):
        ours.reset()
        theirs.reset_state()
        for s in batches(n, 8):
            ours.update(y_true[s], y_pred[s])
            theirs.update_state(y_true[s], y_pred[s])
        np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-6)
    if name.lower() in ("accuracy", "acc"):
        assert type(ours.metric).__name__ == type(theirs).__name__


MASKED_CASES = [("accuracy", "tagger"), ("sparse_categorical_accuracy", "tagger"),
                ("sparse_top_k_categorical_accuracy", "tagger"),
                ("categorical_accuracy", "onehot_seq"), ("accuracy", "binary_seq"),
                ("sparse_categorical_crossentropy", "tagger")]


@pytest.mark.keras
@pytest.mark.parametrize("name, kind", MASKED_CASES, ids=[f"{n}-{k}" for n, k in MASKED_CASES])
def test_masked_sequence_metrics_match_keras(keras, name, kind):
    """A tagger's (B, T, C) output with a time mask: Keras's MeanMetricWrapper takes the
    mask attached to y_pred as sample weights (means over the real steps)."""
    import jax.numpy as jnp
    from keras.src.backend.common.masking import set_keras_mask
    from keras.src.trainers.compile_utils import get_metric

    rng = np.random.default_rng(zlib.crc32(f"{name}{kind}".encode()))
    n = 13
    if kind == "binary_seq":
        y_true = rng.integers(0, 2, (n, 4, 1)).astype(np.float32)
        y_pred = rng.uniform(0, 1, (n, 4, 1)).astype(np.float32)
    else:
        y_true, y_pred = _accuracy_data(kind, n, rng)
        y_pred = y_pred + np.float32(0.1)
    mask = rng.random((n, 4)) < 0.6
    mask[2] = False
    ours, theirs = metrics.get(name), get_metric(name, y_true, y_pred)
    for s in batches(n, 5):
        ours.update(y_true[s], y_pred[s], mask=mask[s])
        p = jnp.asarray(y_pred[s])
        set_keras_mask(p, jnp.asarray(mask[s]))
        theirs.update_state(y_true[s], p)
    np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-6)
    unmasked = metrics.get(name)
    unmasked.update(y_true, y_pred)
    assert unmasked.result() != pytest.approx(ours.result())  # the mask changed something


def test_accuracy_hand_values_and_ties():
    # argmax picks the first of tied maxima: [0.5, 0.5, 0] -> class 0
    m = metrics.SparseCategoricalAccuracy()
    m.update([0, 1], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    assert m.result() == 0.5
    # top-k: the target's rank is 1 + how many scores are strictly larger (ties rank high)
    top = metrics.SparseTopKCategoricalAccuracy(k=1)
    top.update([1], [[0.5, 0.5, 0.0]])
    assert top.result() == 1.0
    # binary: y_pred > threshold, so 0.5 is a 0
    b = metrics.BinaryAccuracy()
    b.update([[0.0], [1.0]], [[0.5], [0.5]])
    assert b.result() == 0.5
    # masked tagger accuracy: 3 real steps, 2 right
    m = metrics.get("accuracy")
    y_pred = np.eye(3)[[[0, 1, 2], [2, 2, 2]]]  # (2, 3, 3)
    m.update(np.array([[0, 0, 2], [1, 2, 0]]), y_pred, mask=[[True, False, True],
                                                             [False, False, False]])
    assert m.result() == pytest.approx(1.0)  # steps (0, 0) and (0, 2) are right
    m.update(np.array([[1, 1, 1]]), np.eye(3)[[[0, 1, 2]]], mask=[[True, True, False]])
    assert m.result() == pytest.approx(3 / 4)


KERAS_METRIC_CLASSES = [
    ("Accuracy", {}), ("BinaryAccuracy", {"threshold": 0.3}), ("CategoricalAccuracy", {}),
    ("SparseCategoricalAccuracy", {}), ("TopKCategoricalAccuracy", {"k": 2}),
    ("SparseTopKCategoricalAccuracy", {"k": 3}),
    ("SparseTopKCategoricalAccuracy", {"from_sorted_ids": True}),
    ("SparseCategoricalCrossentropy", {"from_logits": True}),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}), ("BinaryCrossentropy", {}),
    ("KLDivergence", {}), ("Poisson", {}), ("LogCoshError", {}), ("CosineSimilarity", {}),
    ("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}), ("MeanSquaredError", {}),
]


@pytest.mark.keras
@pytest.mark.parametrize("class_name, kwargs", KERAS_METRIC_CLASSES,
                         ids=[f"{c}-{len(k)}" for c, k in KERAS_METRIC_CLASSES])
def test_metric_configs_and_serialized_forms_match_keras(keras, class_name, kwargs):
    theirs = getattr(keras.metrics, class_name)(**kwargs)
    ours = getattr(metrics, class_name)(**kwargs)
    assert ours.name == theirs.name
    assert ours.get_config() == theirs.get_config()
    serialized = keras.metrics.serialize(theirs)
    assert metrics.serialize(ours) == serialized
    again = metrics.get(serialized)
    assert type(again) is type(ours) and again.get_config() == ours.get_config()
    assert keras.metrics.get(metrics.serialize(ours)).get_config() == theirs.get_config()


def test_metric_strings_serialize_as_the_string_and_bad_arguments():
    for name in ("accuracy", "acc", "sparse_categorical_accuracy", "mae"):
        assert metrics.serialize(metrics.get(name)) == name
    with pytest.raises(ValueError, match="k an integer >= 1"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match="only dtype float32"):
        metrics.Accuracy(dtype="float16")
    with pytest.raises(ValueError, match="SparseCategoricalAccuracy: expected a mask"):
        metrics.SparseCategoricalAccuracy().update([0, 1], np.eye(2), mask=np.ones((2, 2)))
    with pytest.raises(ValueError, match="cannot serialize"):
        metrics.serialize(metrics.get(losses.Huber()))
    with pytest.raises(ValueError, match="Unknown metric class 'AUC'.*Expected one of"):
        metrics.get({"class_name": "AUC", "config": {}})
    with pytest.raises(ValueError, match="TopKCategoricalAccuracy: bad config"):
        metrics.get({"class_name": "TopKCategoricalAccuracy", "config": {"threshold": 1}})


@pytest.mark.keras
def test_a_keras_file_compiled_with_objects_loads_them(keras, tmp_path):
    """A .keras file's compile_config holds loss / metric objects as Keras serializes them:
    they load with their arguments (from_logits, k, threshold), strings as strings."""
    import npylstm

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["acc", keras.metrics.SparseTopKCategoricalAccuracy(k=2),
                           keras.metrics.SparseCategoricalCrossentropy(from_logits=True)])
    path = tmp_path / "classifier.keras"
    with warnings.catch_warnings():  # Keras 3.15's saver under NumPy 2 (Variable.__array__)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        model.save(path)
    ours = npylstm.load_model(path)
    assert isinstance(ours.loss, losses.SparseCategoricalCrossentropy)
    assert ours.loss.from_logits
    assert [m.name for m in ours.compiled_metrics] == [
        "acc", "sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy"]
    assert ours.compiled_metrics[1].k == 2 and ours.compiled_metrics[2]._loss.from_logits
    compile_config = json.loads(zipfile.ZipFile(path).read("config.json"))["compile_config"]
    assert [metrics.serialize(m) for m in ours.compiled_metrics] == compile_config["metrics"]
    assert losses.serialize(ours.loss) == compile_config["loss"]


@pytest.mark.keras
@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    kind=st.sampled_from(["sparse", "categorical", "sparse_top_k", "top_k", "binary"]),
    batch=st.integers(1, 5),
    steps=st.sampled_from([None, 3]),
    classes=st.integers(2, 6),
    k=st.integers(1, 7),
    seed=st.integers(0, 2**31),
)
def test_accuracies_match_keras_on_random_shapes_and_ties(keras, kind, batch, steps, classes,
                                                          k, seed):
    rng = np.random.default_rng(seed)
    lead = (batch,) if steps is None else (batch, steps)
    scores = (rng.integers(0, 3, (*lead, classes)) / 2).astype(np.float32)  # many ties
    ids = rng.integers(0, classes, lead)
    if kind == "binary":
        ours, theirs = metrics.BinaryAccuracy(), keras.metrics.BinaryAccuracy()
        y_true, scores = rng.integers(0, 2, (*lead, 1)).astype(np.float32), scores[..., :1]
    elif kind in ("sparse", "sparse_top_k"):
        ours, theirs = ((metrics.SparseCategoricalAccuracy(),
                         keras.metrics.SparseCategoricalAccuracy()) if kind == "sparse" else
                        (metrics.SparseTopKCategoricalAccuracy(k=k),
                         keras.metrics.SparseTopKCategoricalAccuracy(k=k)))
        y_true = ids.astype(np.float32)
    else:
        ours, theirs = ((metrics.CategoricalAccuracy(), keras.metrics.CategoricalAccuracy())
                        if kind == "categorical" else
                        (metrics.TopKCategoricalAccuracy(k=k),
                         keras.metrics.TopKCategoricalAccuracy(k=k)))
        y_true = np.eye(classes, dtype=np.float32)[ids]
    ours.update(y_true, scores)
    theirs.update_state(y_true, scores)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-6)
