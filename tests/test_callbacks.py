"""Callbacks: EarlyStopping (Keras 3 rules, stepped through by hand), History, hooks."""

from __future__ import annotations

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, optimizers
from npylstm.callbacks import Callback, EarlyStopping, History
from npylstm.layers import LSTM, Dense


class FakeModel:
    """Just what EarlyStopping touches: stop_training and the weights."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.zeros(1)]
        self.metrics = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def _run(callback, values, key="val_loss"):
    """Feed epoch logs until the callback stops training; returns the epochs run."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        model.weights = [np.array([float(epoch)])]  # weights "after" this epoch
        callback.on_epoch_end(epoch, {key: value})
        epochs += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs, model


def test_early_stopping_patience():
    # best 1.0 at epoch 1; epochs 2 and 3 do not improve; patience 2 -> stop after epoch 3
    epochs, _ = _run(EarlyStopping(patience=2), [2.0, 1.0, 1.5, 1.2, 0.5])
    assert epochs == 4


def test_early_stopping_min_delta_and_mode_max():
    # improvements must exceed 0.1: 0.95 is not better than 1.0 - 0.1 -> stop at epoch 1
    epochs, _ = _run(EarlyStopping(min_delta=0.1), [1.0, 0.95, 0.5])
    assert epochs == 2
    # mode="max" (accuracy-like): 0.9 after 0.8 improves, 0.85 does not
    epochs, _ = _run(EarlyStopping(monitor="acc", mode="max"), [0.8, 0.9, 0.85, 0.95], "acc")
    assert epochs == 3


def test_early_stopping_restores_the_best_weights():
    callback = EarlyStopping(patience=1, restore_best_weights=True)
    epochs, model = _run(callback, [3.0, 1.0, 2.0, 2.5, 0.1])
    assert epochs == 3 and callback.best_epoch == 1
    assert model.weights[0][0] == 1.0  # the weights at the end of epoch 1


def test_early_stopping_start_from_epoch():
    # the first two epochs are not monitored: stopping comes after epoch 3 at the earliest
    epochs, _ = _run(EarlyStopping(start_from_epoch=2), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert epochs == 4


def test_early_stopping_bad_arguments():
    # Keras (monitor_callback.py): an unknown mode warns and falls back to auto
    with pytest.warns(UserWarning, match=r"EarlyStopping mode 'up' is unknown, fallback to "
                                         r"auto mode\."):
        stopper = EarlyStopping(mode="up")
    assert stopper.mode == "auto"
    with pytest.raises(ValueError, match=r"EarlyStopping: expected patience to be an integer "
                                         r">= 0, received -1"):
        EarlyStopping(patience=-1)
    # Keras (early_stopping.py get_monitor_value): a missing monitor warns, never stops
    with pytest.warns(UserWarning, match=r"Early stopping conditioned on metric `val_mae` "
                                         r"which is not available\. Available metrics are: "
                                         r"loss$"):
        epochs, _ = _run(EarlyStopping(monitor="val_mae", mode="min"), [1.0, 2.0], key="loss")
    assert epochs == 2
    # Keras: auto mode on a name whose direction it cannot tell raises at the first epoch end
    with pytest.raises(ValueError, match=r"EarlyStopping callback received monitor=val_auc, "
                                         r"but Keras isn't able to automatically determine"):
        _run(EarlyStopping(monitor="val_auc"), [1.0], key="val_auc")


def test_early_stopping_in_fit_and_callback_hooks(rng):
    npylstm.set_random_seed(1)
    model = Sequential([Input((3, 1)), LSTM(2), Dense(1)])
    # a learning rate this large makes the loss jump around: stop at the first bad epoch
    model.compile(optimizer=optimizers.SGD(5.0), loss="mse")
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    x = rng.normal(size=(16, 3, 1))
    y = rng.normal(size=(16, 1)) * 10
    stopper = EarlyStopping(monitor="loss", patience=0, restore_best_weights=True)
    history = model.fit(x, y, epochs=30, batch_size=4, callbacks=[stopper, Recorder()],
                        verbose=0)
    run = len(history.history["loss"])
    losses = history.history["loss"]
    assert run < 30
    assert losses[-1] >= min(losses[:-1])  # it stopped on an epoch that did not improve
    assert calls[0] == "train_begin" and calls[-1] == "train_end"
    assert calls[1:3] == ["epoch_begin 0", "epoch_end 0 ['loss']"]
    assert isinstance(history, History) and history.epoch == list(range(run))


def test_fit_rejects_non_callbacks(rng):
    model = Sequential([Input((3, 1)), LSTM(2), Dense(1)])
    model.compile(loss="mse")
    with pytest.raises(TypeError, match=r"expected callbacks to be npylstm.callbacks.Callback "
                                        r"instances, received function"):
        model.fit(rng.normal(size=(4, 3, 1)), rng.normal(size=(4, 1)), verbose=0,
                  callbacks=[lambda: None])


def test_model_checkpoint_in_fit_holds_the_weights_of_that_batch(rng, tmp_path):
    """save_freq=3 over 2 epochs of 4 batches: saves after the 3rd batch (e1b3) and the 2nd
    batch of the next epoch (e2b2, 3 batches later), as a .h5 model and as .weights.h5; each
    file loads back with the weights the model had at that batch's end."""
    from npylstm import load_model
    from npylstm.callbacks import LambdaCallback, ModelCheckpoint

    model = Sequential([Input((3, 1)), LSTM(2), Dense(1)])
    model.compile(optimizer=optimizers.Adam(0.05), loss="mse")
    at_batch = {}
    record = LambdaCallback(on_train_batch_end=lambda batch, logs: at_batch.setdefault(
        (len(at_batch) // 4 + 1, batch + 1), model.get_weights()))
    model.fit(rng.normal(size=(16, 3, 1)), rng.normal(size=(16, 1)), epochs=2, batch_size=4,
              verbose=0, shuffle=False, callbacks=[
                  ModelCheckpoint(str(tmp_path / "m-{epoch}-{batch}.h5"), save_freq=3),
                  ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}.weights.h5"),
                                  save_weights_only=True, save_freq=3),
                  record])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m-1-3.h5", "m-2-2.h5", "w-1-3.weights.h5", "w-2-2.weights.h5"]
    fresh = Sequential([Input((3, 1)), LSTM(2), Dense(1)])
    for epoch, batch in ((1, 3), (2, 2)):
        fresh.load_weights(tmp_path / f"w-{epoch}-{batch}.weights.h5")
        loaded = load_model(tmp_path / f"m-{epoch}-{batch}.h5")
        for a, b, c in zip(fresh.get_weights(), loaded.get_weights(), at_batch[epoch, batch],
                           strict=True):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, c)


@pytest.mark.xfail(
    "_initial_epoch" not in vars(Sequential([Input((2,)), Dense(1)])), strict=True,
    reason="fit does not read model._initial_epoch yet (/tmp/lead/requests-callbacks.md)")
def test_backup_and_restore_resumes_a_fresh_model_exactly(rng, tmp_path):
    """A new process: a fresh model, compiled, its optimizer not built yet, fit with the
    BackupAndRestore of an interrupted run: it runs the missing epochs only and ends on the
    weights and iteration count of an uninterrupted run (the momentums are in the backup)."""
    from npylstm.callbacks import BackupAndRestore

    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))

    def make():
        model = Sequential([Input((3,)), Dense(1)])
        model.set_weights([np.ones((3, 1), "float32"), np.zeros(1, "float32")])
        model.compile(optimizer=optimizers.SGD(0.1, momentum=0.9), loss="mse")
        return model

    class Interrupt(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")

    settings = {"epochs": 4, "batch_size": 4, "shuffle": False, "verbose": 0}
    reference = make()
    reference.fit(x, y, **settings)
    with pytest.raises(RuntimeError, match="interrupted"):
        make().fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b"), Interrupt()], **settings)
    assert (tmp_path / "b" / "latest.weights.h5").exists()
    resumed = make()
    history = resumed.fit(x, y, callbacks=[BackupAndRestore(tmp_path / "b")], **settings)
    assert history.epoch == [2, 3]
    assert resumed.optimizer.iterations == reference.optimizer.iterations == 16
    for a, b in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "b").exists()  # deleted when training finished
