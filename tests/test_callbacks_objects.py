"""Callbacks driven hook by hook, next to Keras 3's own callback objects driven the same way
(no Keras model is compiled: a small fake model records what the callbacks ask of it).

Compared with Keras: which files ModelCheckpoint and BackupAndRestore write and when
(integer ``save_freq``, ``double_checkpoint``, the fallback to the previous backup), the
bytes CSVLogger writes (separators, ``NA`` columns, iterables, append), EarlyStopping's
decisions on many log sequences (baseline, min_delta, mode, start_from_epoch), the printed
messages and the error messages.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from npylstm import callbacks
from npylstm.callbacks.monitor import MonitorCallback


class FakeModel:
    """What the callbacks touch: save / save_weights / load_weights write and read a text
    file holding ``state``; get_weights / set_weights; stop_training; metrics."""

    def __init__(self):
        self.state = "initial"
        self.built = True
        self.optimizer = None
        self.metrics = []
        self.stop_training = False
        self.weights = [np.zeros(2)]
        self.saved = []

    def _write(self, filepath):
        self.saved.append(os.path.basename(filepath))
        with open(filepath, "w") as f:
            f.write(self.state)

    def save(self, filepath, overwrite=True):
        self._write(filepath)

    def save_weights(self, filepath, overwrite=True):
        self._write(filepath)

    def load_weights(self, filepath):
        with open(filepath) as f:
            state = f.read()
        if state == "corrupt":
            raise OSError(f"Unable to open file {filepath}")
        self.state = state

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def _drive(cb, epochs, batches, logs_at=None, start=0):
    """fit's hook calls for ``epochs`` epochs of ``batches`` batches; returns the model."""
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch in range(start, epochs):
        cb.on_epoch_begin(epoch, {})
        for batch in range(batches):
            model.state = f"e{epoch}b{batch}"
            cb.on_train_batch_begin(batch, logs={})
            cb.on_train_batch_end(batch, logs={"loss": 1.0 / (batch + 1)})
        logs = logs_at(epoch) if logs_at else {"loss": 1.0, "val_loss": 2.0}
        cb.on_epoch_end(epoch, logs)
        model.weights = [np.full(2, float(epoch))]
        if model.stop_training:
            break
    cb.on_train_end({})
    return model


@pytest.mark.parametrize("save_freq", [1, 2, 3, 5, "epoch"])
def test_model_checkpoint_batch_saving_matches_keras(keras, tmp_path, save_freq):
    saved = []
    for lib, root in ((keras.callbacks, tmp_path / "k"), (callbacks, tmp_path / "n")):
        cb = lib.ModelCheckpoint(str(root / "m-{epoch}-{batch}.weights.h5") if save_freq !=
                                 "epoch" else str(root / "m-{epoch}.weights.h5"),
                                 save_weights_only=True, save_freq=save_freq)
        model = _drive(cb, epochs=3, batches=4)
        saved.append((model.saved, sorted(os.listdir(root))))
    assert saved[1] == saved[0]
    assert saved[0][0]  # something was saved


def _val_losses(epoch):
    values = [3.0, 2.0, 2.5, 1.0, 1.0, 0.5, 0.9, 0.4]
    return {"loss": 1.0, "val_loss": values[epoch], "val_acc": 1.0 - values[epoch] / 4}


@pytest.mark.parametrize("settings", [
    {"save_best_only": True},
    {"save_best_only": True, "initial_value_threshold": 1.5},
    {"save_best_only": True, "monitor": "val_acc", "mode": "max"},
    {"save_best_only": True, "monitor": "val_acc", "mode": "min"},
    {"save_best_only": False},
])
def test_model_checkpoint_best_only_and_messages_match_keras(keras, tmp_path, capsys, settings):
    results = []
    for lib, root in ((keras.callbacks, tmp_path / "k"), (callbacks, tmp_path / "n")):
        cb = lib.ModelCheckpoint(str(root / "best-{epoch:02d}.keras"), verbose=1, **settings)
        model = _drive(cb, epochs=8, batches=1, logs_at=_val_losses)
        printed = capsys.readouterr().out.replace(str(root), "<root>")
        results.append((model.saved, printed, cb.best))
    assert results[1] == results[0]


def test_model_checkpoint_missing_monitor_warns_and_saves(keras, tmp_path):
    for lib in (keras.callbacks, callbacks):
        cb = lib.ModelCheckpoint(str(tmp_path / f"{lib.__name__}.keras"), save_best_only=True,
                                 monitor="val_mae", mode="min")
        with pytest.warns(UserWarning, match=r"^Can save best model only with val_mae "
                                             r"available\.$"):
            model = _drive(cb, epochs=2, batches=1)
        assert len(model.saved) == 2


def _message(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the message is what is compared
        return type(e).__name__, str(e)
    return None


@pytest.mark.parametrize("args", [
    ("model.h5py", {}),
    ("model.keras", {"save_weights_only": True}),
    ("model.weights.h5", {"save_freq": "batch"}),
])
def test_model_checkpoint_argument_errors_match_keras(keras, args):
    path, kwargs = args
    theirs = _message(lambda: keras.callbacks.ModelCheckpoint(path, **kwargs))
    assert theirs is not None and theirs[0] == "ValueError"
    assert _message(lambda: callbacks.ModelCheckpoint(path, **kwargs)) == theirs


def test_model_checkpoint_auto_mode_on_an_unknown_metric_raises_as_keras(keras, tmp_path):
    messages = []
    for lib in (keras.callbacks, callbacks):
        cb = lib.ModelCheckpoint(str(tmp_path / "m.keras"), monitor="val_mae")
        messages.append(_message(lambda cb=cb: _drive(cb, epochs=1, batches=1)))
    assert messages[1] == messages[0] and messages[0][0] == "ValueError"
    assert "isn't able to automatically determine" in messages[0][1]


def test_model_checkpoint_template_key_error_matches_keras(keras, tmp_path):
    messages = []
    for lib in (keras.callbacks, callbacks):
        cb = lib.ModelCheckpoint(str(tmp_path / "m-{val_mae:.2f}.keras"))
        messages.append(_message(lambda cb=cb: _drive(cb, epochs=1, batches=1)))
    assert messages[1] == messages[0] and messages[0][0] == "KeyError"


def test_model_checkpoint_refuses_a_directory(tmp_path):
    (tmp_path / "ckpt.keras").mkdir()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "ckpt.keras"))
    with pytest.raises(OSError, match=r"Please specify a non-directory filepath for "
                                      r"ModelCheckpoint\. Filepath used is an existing "
                                      r"directory: .*ckpt\.keras$"):
        _drive(cb, epochs=1, batches=1)


def _backup_state(root):
    files = {}
    for name in sorted(os.listdir(root)) if os.path.exists(root) else []:
        with open(os.path.join(root, name)) as f:
            files[name] = f.read()
    return files


@pytest.mark.parametrize("settings", [
    {}, {"save_freq": 3}, {"save_freq": 2, "double_checkpoint": True},
    {"double_checkpoint": True, "delete_checkpoint": False},
])
def test_backup_and_restore_files_match_keras(keras, tmp_path, settings):
    """Interrupted after epoch 2's third batch (a crash: no on_train_end), the files left
    and their contents; then a new fit restores the state and the epoch."""
    results = []
    for lib, root in ((keras.callbacks, tmp_path / "k"), (callbacks, tmp_path / "n")):
        cb = lib.BackupAndRestore(str(root), **settings)
        model = FakeModel()
        cb.set_model(model)
        cb.on_train_begin({})
        states = []
        for epoch in range(3):
            cb.on_epoch_begin(epoch, {})
            for batch in range(4):
                if epoch == 2 and batch == 3:
                    break  # the crash
                model.state = f"e{epoch}b{batch}"
                cb.on_train_batch_begin(batch, logs={})
                cb.on_train_batch_end(batch, logs={})
                states.append(_backup_state(root))
            else:
                cb.on_epoch_end(epoch, {})
                states.append(_backup_state(root))
        fresh = FakeModel()
        resumed = lib.BackupAndRestore(str(root), **settings)
        resumed.set_model(fresh)
        resumed.on_train_begin({})
        resumed.on_train_end({})
        results.append((states, fresh.state, getattr(fresh, "_initial_epoch", None),
                        os.path.exists(root)))
    assert results[1] == results[0]
    assert results[0][2] is not None  # an epoch was restored


def test_backup_and_restore_falls_back_to_the_previous_backup(keras, tmp_path):
    results = []
    for lib, root in ((keras.callbacks, tmp_path / "k"), (callbacks, tmp_path / "n")):
        cb = lib.BackupAndRestore(str(root), double_checkpoint=True)
        _drive_model = FakeModel()
        cb.set_model(_drive_model)
        for epoch in range(3):
            _drive_model.state = f"after epoch {epoch}"
            cb.on_epoch_end(epoch, {})
        with open(root / "latest.weights.h5", "w") as f:
            f.write("corrupt")
        fresh = FakeModel()
        cb.set_model(fresh)
        cb.on_train_begin({})
        results.append((fresh.state, fresh._initial_epoch, _backup_state(root)))
    assert results[1] == results[0]
    assert results[0][:2] == ("after epoch 1", 2)


def test_backup_and_restore_falls_back_from_a_file_npylstm_cannot_read(tmp_path):
    from npylstm import Input, Sequential
    from npylstm.layers import Dense

    model = Sequential([Input((2,)), Dense(1)])
    before = model.get_weights()
    cb = callbacks.BackupAndRestore(str(tmp_path), double_checkpoint=True)
    cb.set_model(model)
    cb.on_epoch_end(0, {})
    model.set_weights([w + 1 for w in before])
    cb.on_epoch_end(1, {})
    (tmp_path / "latest.weights.h5").write_bytes(b"garbage")
    cb.on_train_begin({})
    np.testing.assert_array_equal(model.get_weights()[0], before[0])
    assert model._initial_epoch == 1
    (tmp_path / "latest.weights.h5").write_bytes(b"garbage")
    os.remove(tmp_path / "latest.weights.h5.bkp")
    with pytest.raises(ValueError, match="is not a Keras file"):
        cb.on_train_begin({})


def test_backup_and_restore_argument_errors_match_keras(keras):
    for args in (("",), ("dir", "batch")):
        theirs = _message(lambda args=args: keras.callbacks.BackupAndRestore(*args))
        assert theirs is not None and theirs[0] == "ValueError"
        assert _message(lambda args=args: callbacks.BackupAndRestore(*args)) == theirs
    unbuilt = FakeModel()
    unbuilt.built = False
    cb = callbacks.BackupAndRestore("unused")
    cb.set_model(unbuilt)
    with pytest.raises(ValueError, match=r"To use the BackupAndRestore callback, you model "
                                         r"must be built before you call `fit\(\)`"):
        cb.on_train_begin({})


CSV_RUNS = [
    ({}, [{"loss": 0.5, "mae": 0.25}, {"loss": 0.125, "mae": 1e-8}]),
    ({"separator": ";"}, [{"val_loss": 1.5, "loss": 0.5}, {"loss": 0.4}]),
    ({}, [{"loss": np.float32(0.1), "vec": np.array([1.0, 2.5]), "tag": "a,b"}]),
    ({}, [{}]),
]


@pytest.mark.parametrize(("settings", "rows"), CSV_RUNS)
def test_csv_logger_bytes_match_keras(keras, tmp_path, settings, rows):
    written = []
    for lib, name in ((keras.callbacks, "k.csv"), (callbacks, "n.csv")):
        path = tmp_path / name
        for append in (False, True):  # a second run appends (no second header)
            cb = lib.CSVLogger(str(path), append=append, **settings)
            cb.set_model(FakeModel())
            cb.on_train_begin({})
            for epoch, logs in enumerate(rows):
                cb.on_epoch_end(epoch, dict(logs))
            cb.on_train_end({})
        written.append(path.read_bytes())
    assert written[1] == written[0]


def test_csv_logger_appends_a_header_to_an_empty_file_and_flushes_each_epoch(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("")
    cb = callbacks.CSVLogger(str(path), append=True)
    cb.set_model(FakeModel())
    cb.on_train_begin({})
    cb.on_epoch_end(0, {"loss": 0.5})
    # before on_train_end: the finished epoch is on disk already (a crash keeps it)
    assert path.read_bytes() == b"epoch,loss,val_loss\r\n0,0.5,NA\r\n"
    cb.on_train_end({})


def _early_stopping_sequences():
    rng = np.random.default_rng(5)
    for i in range(24):
        values = np.round(rng.normal(size=10).cumsum(), 2)  # a random walk: ups and downs
        settings = {
            "patience": int(rng.integers(0, 4)),
            "min_delta": [0, 0.05, 0.3][i % 3],
            "restore_best_weights": bool(i % 4 < 2),
            "start_from_epoch": [0, 0, 2][i % 3],
            "mode": ["auto", "min", "max"][i % 3],
        }
        if i % 5 == 0:
            settings["baseline"] = float(values[3])
        yield settings, [float(v) for v in values]


@pytest.mark.parametrize(("settings", "values"), list(_early_stopping_sequences()))
def test_early_stopping_decisions_match_keras(keras, capsys, settings, values):
    results = []
    for lib in (keras.callbacks, callbacks):
        cb = lib.EarlyStopping(monitor="val_loss", verbose=1, **settings)
        model = _drive(cb, epochs=len(values), batches=0,
                       logs_at=lambda e, values=values: {"val_loss": values[e]})
        results.append((cb.stopped_epoch, cb.best_epoch, cb.wait, cb.best,
                        float(model.weights[0][0]), capsys.readouterr().out))
    assert results[1] == results[0]


def test_monitor_compares_in_float32_as_keras(keras):
    # 1 - 1e-9 is below 1.0 in float64, not in float32 (Keras's ops.less on Python floats)
    for lib_cls in (keras.callbacks.EarlyStopping, callbacks.EarlyStopping):
        cb = lib_cls(monitor="loss")
        cb.set_model(FakeModel())
        cb._set_monitor_op()
        assert not bool(cb._is_improvement(1.0 - 1e-9, 1.0))
        assert bool(cb._is_improvement(1.0 - 1e-7, 1.0))


def test_monitor_auto_mode_reads_the_metric_direction(keras):
    from npylstm import Input, Sequential
    from npylstm.layers import Dense

    model = Sequential([Input((2,)), Dense(1)])
    model.compile(loss="mse", metrics=["accuracy", "mae", "cosine_similarity"])
    for monitor, up in (("val_accuracy", True), ("mae", False), ("cosine_similarity", True),
                        ("val_loss", False)):
        cb = MonitorCallback(monitor=monitor)
        cb.set_model(model)
        cb._set_monitor_op()
        assert cb._is_improvement(2.0, 1.0) is up, monitor


def test_lambda_callback_and_callback_list():
    seen = []
    cb = callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.append(("begin", logs)),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", batch, logs)),
        on_predict_end=lambda logs: seen.append(("predict end", logs)),
    )
    cb.on_epoch_end(0, {})  # not given: the base hook, doing nothing
    cl = callbacks.CallbackList([[cb]], add_history=True, model=FakeModel(), verbose=0,
                                epochs=1, steps=1)
    assert len(cl.callbacks) == 2 and isinstance(cl.history, callbacks.History)
    assert cl.params == {"verbose": 0, "epochs": 1, "steps": 1} == cb.params
    cl.on_train_begin()
    cl.on_train_batch_end(3, {"b": np.float32(0.5), "a": {"c": np.array(2.0)}})
    cl.on_predict_end()
    assert seen == [("begin", {}), ("batch", 3, {"c": 2.0, "b": 0.5}), ("predict end", {})]
    assert [type(v) for v in seen[1][2].values()] == [float, float]
    # a History already in the list is the one used
    history = callbacks.History()
    assert callbacks.CallbackList([history], add_history=True).history is history
    with pytest.raises(TypeError, match=r"expected callbacks to be npylstm\.callbacks\."
                                        r"Callback instances, received int"):
        callbacks.CallbackList([cb, 3])


def test_on_batch_aliases_are_called_by_the_train_batch_hooks():
    seen = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs))

    callbacks.CallbackList([Old()]).on_train_batch_begin(0)
    callbacks.CallbackList([Old()]).on_train_batch_end(0, {"loss": 1})
    assert seen == [("begin", 0), ("end", 0, {"loss": 1.0})]
