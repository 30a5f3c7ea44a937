"""Sample weights and class weights by hand (Keras 3.15.1's ``reduce_weighted_values`` /
``apply_mask`` for losses, ``reduce_to_samplewise_values`` for metrics,
``class_weight_to_sample_weights``), float64 central differences for the weighted
gradients, and every bad input with its error. The trajectories against Keras are in
test_sample_weight_keras.py."""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Model, Sequential, losses, metrics
from npylstm.layers import LSTM, Dense, TimeDistributed
from npylstm.models.data import class_weight_to_sample_weights


# -- losses -------------------------------------------------------------------------------
def test_loss_sample_weight_per_sample_by_hand():
    # squared errors 1 and 4 (one value per sample), weights 1 and 3: (1 + 12) / 2
    value, grad = losses.get("mse")(np.array([[0.0], [0.0]]), np.array([[1.0], [2.0]]),
                                    np.array([1.0, 3.0]))
    assert value == pytest.approx(6.5)
    np.testing.assert_allclose(grad, [[1.0], [6.0]])  # 2 e w / 2


def test_loss_sample_weight_with_mask_by_hand():
    # values (1, 4): v = [[1, 2, 3, 4]], mask [[1, 1, 0, 1]]: weight total / valid = 4 / 3
    # at the real entries; sample weights [[2, 1, 5, 1]]: (1*2 + 2*1 + 4*1) * 4/3 / 4 = 8/3
    y_pred = np.array([[[1.0], [2.0], [3.0], [4.0]]]) ** 0.5
    loss = losses.get("mse")
    value, _ = loss(np.zeros((1, 4, 1)), y_pred, np.array([[2.0, 1.0, 5.0, 1.0]]),
                    mask=np.array([[True, True, False, True]]))
    assert value == pytest.approx(8 / 3)
    # a per-sample weight (1, 1) on the sequence multiplies every step: 3 * (1+2+4) / 3
    value, _ = loss(np.zeros((1, 4, 1)), y_pred, np.array([[3.0]]),
                    mask=np.array([[True, True, False, True]]))
    assert value == pytest.approx(7.0)


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy",
                                  "categorical_crossentropy", "huber"])
def test_weighted_masked_gradient_matches_central_difference_float64(name):
    rng = np.random.default_rng(3)
    y_true = rng.uniform(0.0, 1.0, (3, 4, 2))
    y_pred = rng.uniform(0.1, 0.9, (3, 4, 2))
    weight = rng.uniform(0.0, 2.0, (3, 4))
    mask = rng.random((3, 4)) < 0.7
    loss = losses.get(name)
    _, grad = loss(y_true, y_pred, weight, mask=mask)
    h, numeric = 1e-6, np.zeros_like(y_pred)
    for i in np.ndindex(y_pred.shape):
        plus, minus = y_pred.copy(), y_pred.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (loss(y_true, plus, weight, mask=mask)[0]
                      - loss(y_true, minus, weight, mask=mask)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(("weight", "message"), [
    (np.ones(3), r"sample_weight of shape \(3,\) does not fit the per-sample loss values of "
                 r"shape \(3, 4\): pass one weight per sample as \(3, 1\)"),
    (np.ones((3, 5)), r"sample_weight of shape \(3, 5\) does not fit"),
    (np.ones((2, 1)), r"sample_weight of shape \(2, 1\) does not fit"),
])
def test_loss_sample_weight_of_the_wrong_shape(weight, message):
    with pytest.raises(ValueError, match=message):
        losses.get("mse")(np.zeros((3, 4, 2)), np.ones((3, 4, 2)), weight)


def test_loss_sample_weight_not_numbers():
    with pytest.raises(TypeError, match="expected numeric sample_weight"):
        losses.get("mse")(np.zeros((2, 1)), np.ones((2, 1)), np.array(["a", "b"]))


# -- metrics ------------------------------------------------------------------------------
def test_metric_sample_weight_by_hand():
    m = metrics.get("mae")
    m.update(np.zeros((2, 1)), np.array([[1.0], [3.0]]), np.array([1.0, 3.0]))
    assert m.result() == pytest.approx((1 * 1 + 3 * 3) / 4)
    acc = metrics.get("sparse_categorical_accuracy")
    acc.update(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]),
               np.array([1.0, 2.0, 5.0]))
    assert acc.result() == pytest.approx((1 + 0 + 5) / 8)
    # per timestep with a mask: weights * mask, each sample's mean over the mean weight
    seq = metrics.get("mae")
    seq.update(np.zeros((1, 3, 1)), np.array([[[1.0], [2.0], [4.0]]]), np.array([[1.0, 3.0, 2.0]]),
               mask=np.array([[True, True, False]]))
    assert seq.result() == pytest.approx((1 * 1 + 2 * 3) / 4)


def test_metric_sample_weight_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit"):
        metrics.get("mae").update(np.zeros((2, 1)), np.ones((2, 1)), np.ones(3))


# -- class weights ------------------------------------------------------------------------
def test_class_weight_to_sample_weights_keras_rule():
    weights = {0: 0.5, 2: 4.0}
    # sparse ids, ids as (n, 1), one-hot rows, floats rounded; class 1 missing -> 1.0
    for y in (np.array([0, 1, 2]), np.array([[0], [1], [2]]), np.eye(3),
              np.array([0.2, 0.9, 2.1])):
        np.testing.assert_array_equal(class_weight_to_sample_weights(y, weights),
                                      [0.5, 1.0, 4.0])


@pytest.fixture(scope="module")
def classifier():
    model = Sequential([Input((4, 2)), LSTM(3), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 4, 2)).astype("float32"), rng.integers(0, 3, 10)


def test_class_weight_fit_equals_the_same_sample_weight(classifier, xy):
    x, y = xy
    start = classifier.get_weights()
    cw = {0: 1.0, 1: 3.0, 2: 0.25}
    sw = np.array([cw[int(c)] for c in y], dtype="float32")
    settings = {"epochs": 2, "batch_size": 4, "shuffle": False, "verbose": 0}
    by_class = classifier.fit(x, y, class_weight=cw, **settings).history
    classifier.set_weights(start)
    by_sample = classifier.fit(x, y, sample_weight=sw, **settings).history
    classifier.set_weights(start)
    assert by_class == by_sample
    # and it matters: without weights the loss differs
    assert classifier.fit(x, y, **settings).history["loss"] != by_class["loss"]
    classifier.set_weights(start)


def test_train_and_test_on_batch_sample_weight_by_hand(classifier, xy):
    x, y = xy
    p = classifier.predict(x, verbose=0)
    sw = np.linspace(0.0, 2.0, 10)
    expected = float(np.mean(-np.log(p[np.arange(10), y]) * sw))
    loss, acc = classifier.test_on_batch(x, y, sample_weight=sw)
    assert loss == pytest.approx(expected, rel=1e-5)
    hits = (p.argmax(-1) == y).astype(float)
    assert acc == pytest.approx(np.sum(hits * sw) / np.sum(sw), rel=1e-6)
    start = classifier.get_weights()
    assert classifier.train_on_batch(x, y, class_weight={1: 2.0})[0] == pytest.approx(float(
        np.mean(-np.log(p[np.arange(10), y]) * np.where(y == 1, 2.0, 1.0))), rel=1e-5)
    classifier.set_weights(start)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"class_weight": {3: 2.0}}, ValueError,
     r"class_weight names class 3, which does not exist: the model's output has 3 classes"),
    ({"class_weight": {-1: 2.0}}, ValueError, r"class_weight names class -1"),
    ({"class_weight": {"a": 2.0}}, TypeError, r"class_weight keys must be integer class ids"),
    ({"class_weight": {0: "x"}}, TypeError, r"class_weight\[0\] must be a number"),
    ({"class_weight": [1.0, 2.0]}, TypeError, r"expected class_weight as a dict"),
    ({"class_weight": {0: 2.0}, "sample_weight": np.ones(10)}, ValueError,
     r"You cannot `class_weight` and `sample_weight` at the same time"),
    ({"sample_weight": np.ones(9)}, ValueError,
     r"sample_weight has 9 entries but x has 10 samples"),
    ({"sample_weight": np.ones((10, 3))}, ValueError,
     r"sample_weight of shape \(4, 3\) does not fit the per-sample loss values of shape"),
    ({"sample_weight": np.array(["a"] * 10)}, TypeError, r"expected sample_weight as numbers"),
    ({"sample_weight": 2.0}, ValueError, r"one weight per sample, received a scalar"),
])
def test_bad_weights_in_fit(classifier, xy, kwargs, error, message):
    x, y = xy
    with pytest.raises(error, match=message):
        classifier.fit(x, y, batch_size=4, verbose=0, **kwargs)


def test_bad_weights_in_evaluate_and_train_on_batch(classifier, xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"sample_weight has 3 entries but x has 10"):
        classifier.evaluate(x, y, sample_weight=np.ones(3), verbose=0)
    with pytest.raises(ValueError, match=r"`sample_weight` and `class_weight` cannot be "):
        classifier.train_on_batch(x, y, sample_weight=np.ones(10), class_weight={0: 1.0})


def test_class_weight_needs_one_class_per_sample():
    model = Sequential([Input((5, 2)), LSTM(3, return_sequences=True),
                        TimeDistributed(Dense(2, activation="softmax"))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.zeros((4, 5, 2), "float32")
    with pytest.raises(ValueError, match=r"class_weight needs one class per sample, but the "
                                         r"output has shape \(None, 5, 2\)"):
        model.fit(x, np.zeros((4, 5)), class_weight={0: 1.0}, verbose=0)
    # per-sample weights on a sequence output: Keras cannot broadcast (4,) against (4, 5)
    with pytest.raises(ValueError, match=r"pass one weight per sample as \(4, 1\) or one per "
                                         r"value as \(4, 5\)"):
        model.fit(x, np.zeros((4, 5)), sample_weight=np.ones(4), verbose=0)
    model.fit(x, np.zeros((4, 5)), sample_weight=np.ones((4, 1)), verbose=0)  # (4, 1): fine


def test_class_weight_on_one_sigmoid_unit():
    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    x, y = np.zeros((4, 3), "float32"), np.array([0, 1, 1, 0])
    p = model.predict(x, verbose=0)[:, 0]
    loss = model.train_on_batch(x, y, class_weight={1: 3.0})
    expected = np.mean(-np.where(y == 1, 3.0 * np.log(p), np.log(1 - p)))
    assert loss == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="class_weight names class 2, which does not exist: "
                                         "the model's output has 2 classes"):
        model.train_on_batch(x, y, class_weight={2: 3.0})


# -- several outputs ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_outputs():
    inp = Input((3,), name="x")
    a = Dense(2, name="a")(inp)
    b = Dense(1, name="b")(inp)
    model = Model(inp, [a, b])
    model.compile("sgd", ["mse", "mae"], weighted_metrics=[["mae"], ["mse"]])
    return model


def test_several_outputs_take_a_list_or_dict_of_weights(two_outputs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3)).astype("float32")
    ya, yb = rng.normal(size=(6, 2)), rng.normal(size=(6, 1))
    wa, wb = rng.uniform(0, 2, 6), rng.uniform(0, 2, 6)
    pa, pb = two_outputs.predict(x, verbose=0)
    logs = two_outputs.evaluate(x, [ya, yb], sample_weight=[wa, wb], verbose=0,
                                return_dict=True)
    loss_a = np.mean(((pa - ya) ** 2).mean(-1) * wa)
    loss_b = np.mean(np.abs(pb - yb)[:, 0] * wb)
    assert logs["a_loss"] == pytest.approx(loss_a, rel=1e-5)
    assert logs["b_loss"] == pytest.approx(loss_b, rel=1e-5)
    assert logs["loss"] == pytest.approx(loss_a + loss_b, rel=1e-5)
    assert logs["a_mae"] == pytest.approx(np.sum(np.abs(pa - ya).mean(-1) * wa) / np.sum(wa),
                                          rel=1e-5)
    as_dict = two_outputs.evaluate(x, [ya, yb], sample_weight={"a": wa, "b": wb}, verbose=0,
                                   return_dict=True)
    assert as_dict == pytest.approx(logs)
    one = two_outputs.evaluate(x, [ya, yb], sample_weight=wa, verbose=0, return_dict=True)
    both = two_outputs.evaluate(x, [ya, yb], sample_weight=[wa, wa], verbose=0,
                                return_dict=True)
    assert one == pytest.approx(both)  # one per-sample array serves every output


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"class_weight": {0: 1.0}}, r"`class_weight` is only supported for Models with a single "
                                 r"output"),
    ({"sample_weight": [np.ones(6)] * 3}, r"expected one sample_weight per output \['a', "
                                          r"'b'\], received 3"),
    ({"sample_weight": {"c": np.ones(6)}}, r"sample_weight names unknown outputs \['c'\]"),
    ({"sample_weight": np.ones((6, 2))}, r"when providing a single `sample_weight` array, it "
                                         r"should only have one scalar score per sample"),
])
def test_bad_weights_for_several_outputs(two_outputs, kwargs, message):
    x = np.zeros((6, 3), "float32")
    with pytest.raises(ValueError, match=message):
        two_outputs.fit(x, [np.zeros((6, 2)), np.zeros((6, 1))], verbose=0, **kwargs)


def test_weighted_metric_named_like_a_metric_is_prefixed():
    model = Sequential([Input((3,)), Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    assert model.metrics_names == ["loss", "mae", "weighted_mae", "mse"]
    assert npylstm.models.training is not None


def test_class_weight_leaves_the_validation_split_unweighted(classifier, xy):
    # Keras splits (x, y, sample_weight) first and turns class_weight into weights for the
    # training part only
    x, y = xy
    start = classifier.get_weights()
    history = classifier.fit(x, y, class_weight={0: 5.0, 1: 0.1, 2: 2.0},
                             validation_split=0.4, epochs=1, verbose=0)
    expected = classifier.evaluate(x[6:], y[6:], verbose=0, return_dict=True)
    assert history.history["val_loss"] == [pytest.approx(expected["loss"])]
    classifier.set_weights(start)
