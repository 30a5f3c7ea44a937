"""Progress output of fit / evaluate / predict as Keras 3.15.1 prints it
(``callbacks/progbar_logger.py``, ``utils/progbar.py``): verbose 0 / 1 ("auto") / 2,
``Epoch i/N`` only for N > 1, validation silent inside fit, Keras's number format, and
Keras's rule for redrawing in place (``isatty``, notebook, ``posix``, PyCharm), with the
output captured (capsys, a rich console on a StringIO, a fake TTY)."""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
import rich.console

from npylstm import Input, Sequential
from npylstm.callbacks import ProgbarLogger
from npylstm.callbacks.progbar import dynamic_display
from npylstm.layers import Dense


@pytest.fixture(scope="module")
def model():
    m = Sequential([Input((3,)), Dense(1)])
    m.compile("sgd", "mse", metrics=["mae"])
    return m


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(2)
    return rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 1)).astype("float32")


def _keras_number(v: float) -> str:
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def test_evaluate_and_predict_print_as_keras(model, xy, capsys):
    x, y = xy
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    loss, mae = model.evaluate(x, y, batch_size=4, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - \d+s - \d+(s|ms|us)/step - loss: (\S+) - mae: (\S+)\n", out)
    assert f"loss: {_keras_number(loss)} - mae: {_keras_number(mae)}" in out
    model.predict(x, batch_size=4, verbose=2)
    assert re.fullmatch(r"3/3 - \d+s - \d+(s|ms|us)/step\n", capsys.readouterr().out)
    # "auto" is 1 for evaluate and predict too (Keras 3): a bar, its final state printed
    model.evaluate(x, y, batch_size=4)
    out = capsys.readouterr().out
    assert "3/3" in out and f"loss: {_keras_number(loss)}" in out
    model.predict(x, batch_size=5, verbose="auto")
    assert "2/2" in capsys.readouterr().out


def test_fit_epoch_lines_and_silent_validation(model, xy, capsys):
    x, y = xy
    model.fit(x, y, epochs=1, batch_size=5, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch" not in out and out.count("\n") == 1  # Keras: Epoch i/N only for N > 1
    model.fit(x, y, epochs=2, batch_size=5, verbose=2, validation_data=(x, y))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    for line in lines[1::2]:  # one line per epoch; validation adds no line of its own
        assert re.match(r"2/2 - \d+s - \d+(s|ms|us)/step - loss: \S+ - mae: \S+ - "
                        r"val_loss: \S+ - val_mae: \S+$", line)


def test_numbers_formatted_as_keras():
    out = io.StringIO()
    bar = ProgbarLogger(console=rich.console.Console(file=out, width=200))
    bar.set_params({"verbose": 2, "epochs": 1, "steps": 1})
    bar.on_predict_begin()
    bar.on_predict_batch_end(0, {"outputs": np.zeros(2)})
    bar.on_predict_end()
    bar.on_test_begin()  # not inside fit: evaluate's own bar
    bar.on_test_batch_end(0, {"loss": 12.345678, "tiny": 0.0001234, "neg": -0.5})
    bar.on_test_end({"loss": 12.345678, "tiny": 0.0001234, "neg": -0.5})
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("1/1 - ") and "outputs" not in lines[0]
    assert lines[1].endswith(" - loss: 12.3457 - tiny: 1.2340e-04 - neg: -0.5000")


def test_non_dynamic_display_prints_a_line_per_update(monkeypatch):
    out = io.StringIO()
    bar = ProgbarLogger(console=rich.console.Console(file=out, width=200), dynamic=False)
    bar.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    clock = iter([0.0, 1.0, 1.01, 3.0])  # begin, two updates, the end
    monkeypatch.setattr("npylstm.callbacks.progbar.time.perf_counter", lambda: next(clock))
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    bar.on_train_batch_end(0, {"loss": 2.0})   # t = 1.0: printed (ETA 2 steps x 1 s)
    bar.on_train_batch_end(1, {"loss": 1.5})   # t = 1.01: within 0.05 s, skipped
    bar.on_epoch_end(0, {"loss": 1.0})
    lines = out.getvalue().splitlines()
    assert lines == ["1/3 2s 1s/step - loss: 2.0000", "3/3 3s 1s/step - loss: 1.0000"]


def test_dynamic_display_on_a_fake_terminal():
    out = io.StringIO()
    console = rich.console.Console(file=out, width=120, force_terminal=True,
                                   color_system=None)
    bar = ProgbarLogger(console=console, dynamic=True)
    bar.set_params({"verbose": 1, "epochs": 2, "steps": 4})
    bar.on_train_begin()
    bar.on_epoch_begin(0)
    for step in range(4):
        bar.on_train_batch_end(step, {"loss": 0.5})
    bar.on_epoch_end(0, {"loss": 0.25})
    bar.on_train_end()
    text = out.getvalue()
    assert "Epoch 1/2" in text and "4/4" in text and "━" in text
    assert "loss: 0.2500" in text and "/step" in text


class _Stdout(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_dynamic_display_follows_keras_rule(monkeypatch):
    # on this POSIX machine Keras always redraws in place ("posix" in sys.modules)
    assert ("posix" in sys.modules) == dynamic_display()
    monkeypatch.delitem(sys.modules, "posix", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=False))
    assert not dynamic_display()
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=True))
    assert dynamic_display()
    monkeypatch.setattr(sys, "stdout", _Stdout(tty=False))
    monkeypatch.setenv("PYCHARM_HOSTED", "1")
    assert dynamic_display()
    monkeypatch.delenv("PYCHARM_HOSTED")
    monkeypatch.setitem(sys.modules, "ipykernel", object())
    assert dynamic_display()


def test_a_progbar_in_callbacks_is_not_doubled_and_bad_verbose(model, xy, capsys):
    x, y = xy
    out = io.StringIO()
    bar = ProgbarLogger(console=rich.console.Console(file=out, width=200))
    model.evaluate(x, y, batch_size=5, verbose=2, callbacks=[bar])
    assert capsys.readouterr().out == "" and out.getvalue().count("2/2") == 1
    for bad in (3, True, "yes"):
        with pytest.raises(ValueError, match="expected verbose 'auto', 0, 1 or 2"):
            model.evaluate(x, y, verbose=bad)
