"""Learning rates in fit() against real Keras (JAX backend): an optimizer built on a
schedule, ReduceLROnPlateau and LearningRateScheduler, 5 epochs from the same initial
weights with shuffle=False (every epoch's loss / val_loss and the logged learning rate
within 1e-4 relative, the final weights close); Keras's messages and warning; bad input.

The rate drops inside the 5 epochs in both runs (asserted): ReduceLROnPlateau's
``min_delta`` is larger than any epoch-to-epoch change, so every epoch after the first
counts as no improvement. Keras evaluates a schedule inside its XLA-compiled train step
(constant divisions become reciprocal multiplications there): measured when written, its
jitted rates differ from ours by at most 3e-7 of the peak rate over 300 steps of every
configuration in test_schedules.py. Largest differences measured here: loss 6.4e-8 and
val_loss 9.5e-8 relative, final weights 1.3e-6 absolute; the logged learning rates equal.
"""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, callbacks, optimizers
from npylstm.optimizers import schedules

EPOCHS = 5
# Keras's callbacks read the learning-rate variable with np.asarray (a NumPy 2 warning there)
KERAS_ARRAY_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)
SETTINGS = {"epochs": EPOCHS, "batch_size": 16, "validation_split": 0.2, "shuffle": False,
            "verbose": 0}


def _layers(lib, input_fn):
    return [input_fn((5, 2)), lib.LSTM(4), lib.Dense(2)]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(40, 5, 2)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def initial_weights(keras):
    keras.utils.set_random_seed(3)
    return _keras_weights(keras.Sequential(_layers(keras.layers, keras.Input)))


def _keras_weights(model) -> list[np.ndarray]:
    return [np.asarray(v.value) for v in model.weights]


def _pair(keras, initial_weights, keras_opt, our_opt):
    theirs = keras.Sequential(_layers(keras.layers, keras.Input))
    theirs.set_weights(initial_weights)
    ours = Sequential(_layers(npylstm.layers, Input))
    ours.set_weights(initial_weights)
    theirs.compile(optimizer=keras_opt, loss="mse")
    ours.compile(optimizer=our_opt, loss="mse")
    return theirs, ours


def _compare(theirs, ours, expected, got, keys):
    assert sorted(got) == sorted(expected) == sorted(keys)
    for key, values in expected.items():
        assert len(got[key]) == EPOCHS
        np.testing.assert_allclose(got[key], values, rtol=1e-4, err_msg=key)
    for got_w, expected_w in zip(ours.get_weights(), _keras_weights(theirs), strict=True):
        np.testing.assert_allclose(got_w, expected_w, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("schedule", ["ExponentialDecay", "CosineDecay"])
def test_fit_with_a_schedule_matches_keras(keras, data, initial_weights, schedule):
    x, y = data
    kwargs = ({"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.6}
              if schedule == "ExponentialDecay"
              else {"initial_learning_rate": 0.0, "decay_steps": 8, "alpha": 0.1,
                    "warmup_target": 0.05, "warmup_steps": 4})
    keras_opt = keras.optimizers.Adam(getattr(keras.optimizers.schedules, schedule)(**kwargs))
    our_opt = optimizers.Adam(getattr(schedules, schedule)(**kwargs))
    theirs, ours = _pair(keras, initial_weights, keras_opt, our_opt)
    expected = theirs.fit(x, y, **SETTINGS).history
    got = ours.fit(x, y, **SETTINGS).history
    _compare(theirs, ours, expected, got, ["loss", "val_loss"])
    # 2 batches an epoch: 10 updates; the rate the next update would take
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == 10
    np.testing.assert_allclose(ours.optimizer.learning_rate,
                               float(theirs.optimizer.learning_rate), rtol=1e-5)
    assert ours.optimizer.get_config()["learning_rate"] == keras_opt.get_config()[
        "learning_rate"]


@KERAS_ARRAY_WARNING
def test_reduce_lr_on_plateau_matches_keras(keras, data, initial_weights, capsys):
    x, y = data
    kwargs = {"monitor": "val_loss", "factor": 0.5, "patience": 1, "min_delta": 10.0,
              "cooldown": 1, "min_lr": 0.003, "verbose": 1}
    theirs, ours = _pair(keras, initial_weights, keras.optimizers.Adam(0.02),
                         optimizers.Adam(0.02))
    expected = theirs.fit(x, y, callbacks=[keras.callbacks.ReduceLROnPlateau(**kwargs)],
                          **SETTINGS).history
    keras_out = capsys.readouterr().out
    got = ours.fit(x, y, callbacks=[callbacks.ReduceLROnPlateau(**kwargs)], **SETTINGS).history
    our_out = capsys.readouterr().out
    _compare(theirs, ours, expected, got, ["loss", "val_loss", "learning_rate"])
    # The logs hold each epoch's rate before its reduction. Epoch 1 sets the best; epoch 2
    # reduces 0.02 -> 0.01; cooldown=1 is used up at the start of epoch 3's check (Keras
    # decrements it before counting), so epochs 3 and 4 reduce too, to 0.005 and
    # max(0.0025, min_lr) = 0.003; epoch 5: 0.003 is not above float32(min_lr)
    for history in (got, expected):  # the rate dropped in both runs
        np.testing.assert_allclose(history["learning_rate"], [0.02, 0.02, 0.01, 0.005, 0.003],
                                   rtol=1e-6)
    assert ours.optimizer.learning_rate == pytest.approx(0.003)
    assert our_out == keras_out
    assert our_out.count("ReduceLROnPlateau reducing learning rate to") == 3
    assert "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.00999999977648258" in our_out


def test_reduce_lr_on_plateau_stops_at_min_lr(data):
    x, y = data
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(0.01), loss="mse")
    cb = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=0, min_lr=0.004,
                                     min_delta=100.0)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[cb]).history
    # the first epoch sets the best; with patience 0 the second reduces to
    # max(0.01 * 0.1, min_lr) = 0.004 (the logs hold each epoch's rate before the
    # reduction); then 0.004 is not above float32(min_lr): no further reduction
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.01, 0.004, 0.004],
                               rtol=1e-6)
    assert model.optimizer.learning_rate == pytest.approx(0.004)


@KERAS_ARRAY_WARNING
def test_learning_rate_scheduler_matches_keras(keras, data, initial_weights, capsys):
    x, y = data

    def schedule(epoch, lr):
        return lr if epoch < 2 else lr * 0.5

    theirs, ours = _pair(keras, initial_weights, keras.optimizers.RMSprop(0.01),
                         optimizers.RMSprop(0.01))
    expected = theirs.fit(x, y, callbacks=[keras.callbacks.LearningRateScheduler(
        schedule, verbose=1)], **SETTINGS).history
    keras_out = capsys.readouterr().out
    got = ours.fit(x, y, callbacks=[callbacks.LearningRateScheduler(schedule, verbose=1)],
                   **SETTINGS).history
    our_out = capsys.readouterr().out
    _compare(theirs, ours, expected, got, ["loss", "val_loss", "learning_rate"])
    for history in (got, expected):
        np.testing.assert_allclose(history["learning_rate"],
                                   [0.01, 0.01, 0.005, 0.0025, 0.00125], rtol=1e-6)
    assert our_out == keras_out
    assert "\nEpoch 3: LearningRateScheduler setting learning rate to 0.004999999888241291." \
        in our_out


def test_learning_rate_scheduler_old_one_argument_api(data):
    x, y = data
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(0.01), loss="mse")
    cb = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb]).history
    np.testing.assert_allclose(history["learning_rate"], [0.1, 0.05, 0.1 / 3], rtol=1e-6)


def test_missing_monitor_warns_as_keras(data):
    x, y = data
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(0.01), loss="mse")
    cb = callbacks.ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"Learning rate reduction is conditioned on metric "
                      r"`val_loss` which is not available. Available metrics are: "
                      r"loss,learning_rate\."):
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb]).history
    assert history["learning_rate"] == [pytest.approx(0.01)] * 2  # unchanged


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="ReduceLROnPlateau mode 'lowest' is unknown"):
        cb = callbacks.ReduceLROnPlateau(mode="lowest")
    assert cb.mode == "auto"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"factor": 1.0}, ValueError,
     r"ReduceLROnPlateau does not support a factor >= 1.0. Received factor=1.0"),
    ({"factor": -0.5}, ValueError, r"expected factor in \[0, 1\)"),
    ({"factor": float("nan")}, ValueError, "expected factor to be a finite number"),
    ({"factor": "half"}, ValueError, "expected factor to be a finite number"),
    ({"min_lr": -1.0}, ValueError, "expected min_lr >= 0"),
    ({"min_delta": float("inf")}, ValueError, "expected min_delta to be a finite number"),
    ({"patience": -1}, ValueError, "expected patience to be an integer >= 0"),
    ({"patience": 1.5}, ValueError, "expected patience to be an integer >= 0"),
    ({"cooldown": True}, ValueError, "expected cooldown to be an integer >= 0"),
    ({"monitor": 3}, TypeError, "expected monitor to be a string"),
])
def test_reduce_lr_on_plateau_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        callbacks.ReduceLROnPlateau(**kwargs)


def test_scheduler_bad_schedules(data):
    x, y = data
    with pytest.raises(TypeError, match="expected schedule to be a function"):
        callbacks.LearningRateScheduler(0.1)
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(0.01), loss="mse")
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a "
                       "float. Got: 1"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 1)])
    with pytest.raises(ValueError, match="the schedule gave the learning rate nan at epoch 0"):
        model.fit(x, y, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda e, lr: float("nan"))])


def test_scheduler_refuses_an_optimizer_on_a_schedule(data):
    x, y = data
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(schedules.CosineDecay(0.1, 10)), loss="mse")
    cb = callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    with pytest.raises(ValueError, match=r"learning rate is the schedule CosineDecay\(.*cannot "
                       "be set; create the optimizer with a float learning_rate"):
        model.fit(x, y, verbose=0, callbacks=[cb])


def test_auto_mode_on_an_unknown_metric_is_keras_error(data):
    x, y = data
    model = Sequential(_layers(npylstm.layers, Input))
    model.compile(optimizers.SGD(0.01), loss="mse")
    cb = callbacks.ReduceLROnPlateau(monitor="my_quantity")
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        model.fit(x, y, verbose=0, callbacks=[cb])
