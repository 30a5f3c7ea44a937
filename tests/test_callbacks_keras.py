"""Callbacks against real Keras 3 (JAX): the same model, weights, data and callbacks run in
both, and what the callbacks did is compared — the hook calls and their log keys, the files
ModelCheckpoint wrote (names, and the weights inside them against each epoch's weights),
the CSV files, the printed messages, where EarlyStopping stopped and which weights it
restored, and which epochs a BackupAndRestore-resumed fit runs.

One Keras model is compiled once (a Keras compile costs ~10-20 s) and trained in phases,
mirrored step by step by an npylstm model:

1. ``fit`` 8 epochs with validation: a hook recorder, CSVLogger, ModelCheckpoint best-only
   (``{epoch:02d}-{val_loss:.2f}.keras``, verbose), every epoch (``.weights.h5``), every 2
   batches (``{epoch}``/``{batch}`` names), and a LambdaCallback keeping each epoch's weights;
2. ``fit`` on from epoch 8 with EarlyStopping(patience=1, restore_best_weights, verbose) and
   CSVLogger(append=True);
3. ``fit`` with EarlyStopping(baseline, start_from_epoch, restore_best_weights);
4. ``evaluate`` / ``predict`` with the recorder;
5. BackupAndRestore: a fit interrupted by an exception at the start of epoch 2, then rerun.

The trajectory (SGD with momentum, lr 0.2) makes val_loss go up and down, so best-only
saving and early stopping have decisions to make; the test asserts they made some.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, callbacks, optimizers
from npylstm.layers import Dense, Flatten

HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
]


def recorder_class(base):
    """A callback (subclass of Keras's or npylstm's Callback) recording every call: the
    hook, its epoch/batch index and the sorted keys of its logs."""

    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.calls = []

        def set_model(self, model):
            self.calls.append(("set_model",))
            super().set_model(model)

        def set_params(self, params):
            self.calls.append(("set_params", dict(params)))
            super().set_params(params)

    def make(hook):
        def method(self, *args, **kwargs):
            logs = kwargs["logs"] if "logs" in kwargs else args[-1] if args else None
            index = [a for a in args if isinstance(a, int)]
            keys = None if logs is None else sorted(logs)
            self.calls.append((hook, *index, keys))
        return method

    for hook in HOOKS:
        setattr(Recorder, hook, make(hook))
    return Recorder


def interrupter_class(base):
    class Interrupt(base):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("Interrupting!")
    return Interrupt


def _files(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(26, 4, 2)).astype("float32")
    y = (x[:, -1, :1] - 0.5 * x[:, -2, 1:] + 0.3 * rng.normal(size=(26, 1))).astype("float32")
    return x[:20], y[:20], x[20:], y[20:]


def _initial_weights():
    shapes = [(8, 4), (4,), (4, 1), (1,)]
    rng = np.random.default_rng(1)
    return [rng.uniform(-0.6, 0.6, size=s).astype("float32") for s in shapes]


def _run(lib, root):
    """All phases with one library: ``lib`` is ``keras`` or None (npylstm). Returns what
    the callbacks saw and wrote, per phase."""
    keras = lib
    cb = keras.callbacks if keras else callbacks
    if keras:
        model = keras.Sequential([keras.Input((4, 2)), keras.layers.Flatten(),
                                  keras.layers.Dense(4, activation="tanh"),
                                  keras.layers.Dense(1)])
        opt = keras.optimizers.SGD(0.2, momentum=0.8)
    else:
        model = Sequential([Input((4, 2)), Flatten(), Dense(4, activation="tanh"), Dense(1)])
        opt = optimizers.SGD(0.2, momentum=0.8)
    model.set_weights(_initial_weights())
    model.compile(optimizer=opt, loss="mse", metrics=["mae"])
    x, y, xv, yv = _data()
    fit = {"batch_size": 8, "validation_data": (xv, yv), "shuffle": False, "verbose": 0}
    out = {"root": root}
    Recorder = recorder_class(cb.Callback)

    # 1. checkpoints, CSV, hook order
    recorder, per_epoch = Recorder(), []
    phase1 = [
        recorder,
        cb.CSVLogger(os.path.join(root, "log.csv")),
        cb.ModelCheckpoint(os.path.join(root, "best", "{epoch:02d}-{val_loss:.2f}.keras"),
                           save_best_only=True, verbose=1),
        cb.ModelCheckpoint(os.path.join(root, "all", "e{epoch}.weights.h5"),
                           save_weights_only=True),
        cb.ModelCheckpoint(os.path.join(root, "batch", "e{epoch}b{batch}.weights.h5"),
                           save_weights_only=True, save_freq=2),
        cb.LambdaCallback(on_epoch_end=lambda e, logs: per_epoch.append(model.get_weights())),
    ]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        history = model.fit(x, y, epochs=8, callbacks=phase1, **fit)
    out["phase1"] = {"calls": recorder.calls, "history": history.history,
                     "epochs": history.epoch, "weights": per_epoch,
                     "printed": printed.getvalue()}

    # 2. early stopping with restore_best_weights, CSV appended
    stopper = cb.EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        history = model.fit(x, y, epochs=30, initial_epoch=8, **fit, callbacks=[
            stopper, cb.CSVLogger(os.path.join(root, "log.csv"), append=True)])
    out["phase2"] = {"history": history.history, "epochs": history.epoch,
                     "stopped": stopper.stopped_epoch, "best": stopper.best_epoch,
                     "weights": model.get_weights(), "printed": printed.getvalue()}

    # 3. early stopping with a baseline no epoch beats, after a warm-up epoch
    stopper = cb.EarlyStopping(baseline=0.05, start_from_epoch=1, patience=3,
                               restore_best_weights=True)
    history = model.fit(x, y, epochs=20, callbacks=[stopper], **fit)
    out["phase3"] = {"history": history.history, "epochs": history.epoch,
                     "stopped": stopper.stopped_epoch, "best": stopper.best_epoch,
                     "weights": model.get_weights()}

    # 4. evaluate and predict hooks
    recorder = Recorder()
    model.evaluate(x, y, batch_size=6, callbacks=[recorder], verbose=0)
    model.predict(x, batch_size=6, callbacks=[recorder], verbose=0)
    out["phase4"] = {"calls": recorder.calls}

    # 5. BackupAndRestore: from the initial state, interrupted at the start of epoch 2
    model.set_weights(_initial_weights())
    if keras:  # the optimizer's iteration count and momentums back to zero
        for v in opt.variables:
            if "learning_rate" not in v.path:
                v.assign(np.zeros(v.shape, v.dtype))
    else:
        model.compile(optimizer=optimizers.SGD(0.2, momentum=0.8), loss="mse",
                      metrics=["mae"])
    backup = os.path.join(root, "backup")
    with pytest.raises(RuntimeError, match="Interrupting!"):
        model.fit(x, y, epochs=6, callbacks=[cb.BackupAndRestore(backup),
                                             interrupter_class(cb.Callback)()], **fit)
    with open(os.path.join(backup, "training_metadata.json")) as f:
        metadata = json.load(f)
    files = _files(backup)
    history = model.fit(x, y, epochs=6, callbacks=[cb.BackupAndRestore(backup)], **fit)
    out["phase5"] = {"metadata": metadata, "files": files, "epochs": history.epoch,
                     "history": history.history, "weights": model.get_weights(),
                     "backup_left": os.path.exists(backup)}
    return out


@pytest.fixture(scope="module")
def runs(keras, tmp_path_factory):
    with warnings.catch_warnings():  # Keras's own np.array(Variable) (numpy 2 copy keyword)
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept")
        theirs = _run(keras, str(tmp_path_factory.mktemp("keras")))
    ours = _run(None, str(tmp_path_factory.mktemp("ours")))
    return theirs, ours


def _close(a, b, rtol=1e-4, atol=1e-6):
    for u, v in zip(a, b, strict=True):
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


def test_fit_hook_order_matches_keras(runs):
    theirs, ours = runs
    calls = theirs["phase1"]["calls"]
    assert ours["phase1"]["calls"] == calls
    assert calls[:2] == [("set_model",), ("set_params", {"verbose": 0, "epochs": 8, "steps": 3})]
    assert ("on_test_end", ["loss", "mae"]) in calls  # validation ran through the hooks


def test_evaluate_predict_hook_order_matches_keras(runs):
    theirs, ours = runs
    assert ours["phase4"]["calls"] == theirs["phase4"]["calls"]
    assert ("on_predict_batch_end", 0, ["outputs"]) in theirs["phase4"]["calls"]


def test_history_matches_keras(runs):
    theirs, ours = runs
    for phase in ("phase1", "phase2", "phase3"):
        assert ours[phase]["epochs"] == theirs[phase]["epochs"]
        assert list(ours[phase]["history"]) == list(theirs[phase]["history"])
        for key, values in theirs[phase]["history"].items():
            np.testing.assert_allclose(ours[phase]["history"][key], values, rtol=1e-4)


def test_model_checkpoint_files_match_keras(runs):
    theirs, ours = runs
    names = _files(theirs["root"])
    assert _files(ours["root"]) == names
    best = [n for n in names if n.startswith("best")]
    # val_loss went up on some epochs: best-only skipped them
    assert 1 < len(best) < 8, best
    assert [n for n in names if n.startswith("batch")][:3] == [
        os.path.join("batch", n) for n in ("e1b2.weights.h5", "e2b1.weights.h5", "e2b3.weights.h5")
    ]


def test_checkpoints_hold_the_weights_of_their_epoch(runs, keras):
    theirs, ours = runs
    model = Sequential([Input((4, 2)), Flatten(), Dense(4, activation="tanh"), Dense(1)])
    for epoch in range(1, 9):
        model.load_weights(os.path.join(ours["root"], "all", f"e{epoch}.weights.h5"))
        for a, b in zip(model.get_weights(), ours["phase1"]["weights"][epoch - 1], strict=True):
            np.testing.assert_array_equal(a, b)
        # Keras's file of that epoch holds Keras's weights of that epoch
        model.load_weights(os.path.join(theirs["root"], "all", f"e{epoch}.weights.h5"))
        _close(model.get_weights(), theirs["phase1"]["weights"][epoch - 1], rtol=0, atol=0)
    # our best-only .keras files load in Keras with the weights of their epoch
    for name in sorted(os.listdir(os.path.join(ours["root"], "best"))):
        epoch = int(name[:2])
        with warnings.catch_warnings():  # Keras's own np.array(Variable)
            warnings.filterwarnings("ignore", message="__array__ implementation doesn't")
            loaded = keras.saving.load_model(os.path.join(ours["root"], "best", name))
        for a, b in zip([np.asarray(v.value) for v in loaded.weights],
                        ours["phase1"]["weights"][epoch - 1], strict=True):
            np.testing.assert_array_equal(a, b)


def _split_numbers(text: str, root: str):
    text = text.replace(root, "<root>")
    return re.sub(r"\d+\.\d+", "<x>", text), [float(v) for v in re.findall(r"\d+\.\d+", text)]


def test_printed_messages_match_keras(runs):
    theirs, ours = runs
    for phase in ("phase1", "phase2"):
        their_text, their_values = _split_numbers(theirs[phase]["printed"], theirs["root"])
        our_text, our_values = _split_numbers(ours[phase]["printed"], ours["root"])
        assert our_text == their_text
        np.testing.assert_allclose(our_values, their_values, rtol=1e-4)
    assert "did not improve from" in their_text or "did not improve from" in \
        _split_numbers(theirs["phase1"]["printed"], theirs["root"])[0]
    assert "early stopping" in theirs["phase2"]["printed"]


def _csv(path):
    with open(path, newline="") as f:
        return f.read().split("\r\n")


def test_csv_logger_matches_keras(runs):
    theirs, ours = runs
    their_lines = _csv(os.path.join(theirs["root"], "log.csv"))
    our_lines = _csv(os.path.join(ours["root"], "log.csv"))
    assert our_lines[0] == their_lines[0] == "epoch,loss,mae,val_loss,val_mae"
    assert len(our_lines) == len(their_lines) == 1 + 8 + len(theirs["phase2"]["epochs"]) + 1
    for a, b in zip(our_lines[1:-1], their_lines[1:-1], strict=True):
        ours_row, theirs_row = a.split(","), b.split(",")
        assert ours_row[0] == theirs_row[0]  # the epoch
        np.testing.assert_allclose([float(v) for v in ours_row[1:]],
                                   [float(v) for v in theirs_row[1:]], rtol=1e-4)
    assert our_lines[-1] == their_lines[-1] == ""


def test_early_stopping_matches_keras(runs):
    theirs, ours = runs
    for phase in ("phase2", "phase3"):
        assert ours[phase]["stopped"] == theirs[phase]["stopped"] > 0
        assert ours[phase]["best"] == theirs[phase]["best"]
        _close(ours[phase]["weights"], theirs[phase]["weights"])
    # it stopped before the last epoch asked for, and restored an earlier epoch's weights
    assert theirs["phase2"]["epochs"][-1] < 29
    assert theirs["phase2"]["best"] < theirs["phase2"]["stopped"]


# fit must start at the epoch BackupAndRestore restored (Keras's ``self._initial_epoch or
# initial_epoch`` after on_train_begin): requested of training.py's owner
_RESUMES = pytest.mark.xfail(
    "_initial_epoch" not in vars(Sequential([Input((2,)), Dense(1)])), strict=True,
    reason="fit does not read model._initial_epoch yet (/tmp/lead/requests-callbacks.md)")


def test_backup_and_restore_files_match_keras(runs):
    theirs, ours = runs
    # interrupted at the start of epoch 2: the backup of epoch 1's end is on disk
    assert theirs["phase5"]["metadata"] == {"epoch": 2, "batch": 0}
    assert ours["phase5"]["metadata"] == theirs["phase5"]["metadata"]
    assert ours["phase5"]["files"] == theirs["phase5"]["files"] == [
        "latest.weights.h5", "training_metadata.json"]
    assert not ours["phase5"]["backup_left"] and not theirs["phase5"]["backup_left"]


@_RESUMES
def test_backup_and_restore_resumes_as_keras(runs):
    theirs, ours = runs
    # the rerun trains epochs 2..5 only, then deletes the backup
    assert ours["phase5"]["epochs"] == theirs["phase5"]["epochs"] == [2, 3, 4, 5]
    assert not ours["phase5"]["backup_left"] and not theirs["phase5"]["backup_left"]
    _close(ours["phase5"]["weights"], theirs["phase5"]["weights"])


@_RESUMES
def test_backup_and_restore_ends_as_an_uninterrupted_run(runs):
    _, ours = runs
    x, y, xv, yv = _data()
    npylstm.set_random_seed(0)
    model = Sequential([Input((4, 2)), Flatten(), Dense(4, activation="tanh"), Dense(1)])
    model.set_weights(_initial_weights())
    model.compile(optimizer=optimizers.SGD(0.2, momentum=0.8), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=6, batch_size=8, validation_data=(xv, yv),
                        shuffle=False, verbose=0)
    np.testing.assert_allclose(ours["phase5"]["history"]["loss"], history.history["loss"][2:],
                               rtol=1e-6)
    # the momentums are in the backup file: the resumed run ends on the same weights
    _close(ours["phase5"]["weights"], model.get_weights(), rtol=1e-6, atol=0)
