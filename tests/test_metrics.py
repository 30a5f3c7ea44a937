"""Running metrics against Keras metric objects over unequal batches; names; bad input."""

from __future__ import annotations

import numpy as np
import pytest

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

    for name in metrics.names():
        theirs = get_metric(name, None, None)
        assert theirs.name == name
        assert type(metrics.get(name)).__name__ == type(theirs).__name__
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
