"""Optimizer state in files, and resuming training exactly (issue #16, item 6).

Keras 3.15.1 (``saving_lib._save_state``) writes a compiled model's ``optimizer.variables``
as ``optimizer/vars/<i>`` of ``model.weights.h5`` (and of ``save_weights``'s
``.weights.h5``); ``load_model`` builds the optimizer and loads them, so ``fit`` goes on
where it stopped. The oracles: npylstm's own uninterrupted run (resuming must be bit for
bit), real Keras's uninterrupted run and Keras continuing its own file (within 1e-4
relative: float32 rounding over four epochs), and the variables Keras itself loads.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from contextlib import contextmanager

import h5py
import numpy as np
import pytest

import npylstm
from npylstm.io import KerasFileError
from npylstm.layers import LSTM, Dense
from npylstm.optimizers import schedules as our_schedules

BATCH = 8
RTOL = 1e-4

OPTIMIZERS = {
    "adam": ("Adam", {"learning_rate": 0.01}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    "rmsprop_centered": ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5,
                                     "centered": True}),
    # a schedule: no learning_rate variable, the rate follows the restored iteration count
    "adam_schedule": ("Adam", {"learning_rate": ("ExponentialDecay", {
        "initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.5})}),
}


def _config(schedules, config: dict) -> dict:
    """The optimizer's arguments, a ``(class, config)`` learning rate made a schedule."""
    config = dict(config)
    if isinstance(config.get("learning_rate"), tuple):
        name, kwargs = config["learning_rate"]
        config["learning_rate"] = getattr(schedules, name)(**kwargs)
    return config


@contextmanager
def keras_saving():
    """Keras's savers call Variable.__array__, which warns under NumPy 2: ignore that one."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword",
            category=DeprecationWarning,
        )
        yield


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(16)
    x = rng.normal(size=(16, 5, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def initial_weights():
    model = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    rng = np.random.default_rng(6)
    return [(0.4 * rng.normal(size=w.shape)).astype("float32") for w in model.get_weights()]


def our_model(initial_weights, case):
    class_name, config = OPTIMIZERS[case]
    model = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    if initial_weights:
        model.set_weights([w.copy() for w in initial_weights])
    optimizer = getattr(npylstm.optimizers, class_name)(
        **_config(our_schedules, config))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def keras_model(keras, initial_weights, case):
    class_name, config = OPTIMIZERS[case]
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.set_weights([w.copy() for w in initial_weights])
    optimizer = getattr(keras.optimizers, class_name)(**_config(keras.optimizers.schedules,
                                                                  config))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def fit(model, data, epochs, initial_epoch=0):
    x, y = data
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch,
                     shuffle=False, verbose=0).history["loss"]


def keras_values(variables):
    return [np.asarray(v.value) for v in variables]


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3))) if a.size else 0.0


def assert_close(ours, theirs, what):
    assert len(ours) == len(theirs), what
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert np.shape(a) == np.shape(b), (what, i)
        assert rel_diff(a, b) <= RTOL, (what, i, rel_diff(a, b))


class _Lazy(dict):
    """Each case's run, made on first use (so ``-k`` runs only what it selects)."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, case):
        self[case] = self.make(case)
        return self[case]


@pytest.fixture(scope="module")
def runs(data, initial_weights, tmp_path_factory):
    """npylstm per optimizer: 4 epochs at once; 2 epochs saved as .keras, .weights.h5, .h5."""

    def make(case):
        directory = tmp_path_factory.mktemp(case)
        full = our_model(initial_weights, case)
        losses = fit(full, data, 4)
        half = our_model(initial_weights, case)
        first = fit(half, data, 2)
        half.save(directory / "half.keras")
        half.save_weights(directory / "half.weights.h5")
        half.save(directory / "half.h5")
        return {
            "losses": losses, "weights": full.get_weights(), "first": first,
            "variables": [np.array(v) for v in half.optimizer.variables],
            "names": list(half.optimizer.variable_names), "dir": directory,
        }

    return _Lazy(make)


@pytest.fixture(scope="module")
def keras_runs(keras, data, initial_weights, tmp_path_factory):
    """Keras for the same cases: 4 epochs at once; 2 epochs, saved, then 2 more."""

    def make(case):
        directory = tmp_path_factory.mktemp(f"keras_{case}")
        full = keras_model(keras, initial_weights, case)
        losses = fit(full, data, 4)
        cont = keras_model(keras, initial_weights, case)
        fit(cont, data, 2)
        with keras_saving():
            cont.save(directory / "keras.keras")
            cont.save(directory / "keras.h5")
        saved_variables = keras_values(cont.optimizer.variables)
        more = fit(cont, data, 4, initial_epoch=2)
        return {
            "losses": losses, "weights": keras_values(full.weights),
            "saved_variables": saved_variables, "continued": more,
            "continued_weights": keras_values(cont.weights), "dir": directory,
        }

    return _Lazy(make)


#: The Keras comparisons: Adam in the quick run, the others marked slow (each case costs
#: two Keras models compiled and trained).
KERAS_CASES = [case if case == "adam" else pytest.param(case, marks=pytest.mark.slow)
               for case in sorted(OPTIMIZERS)]


# -- (a) resume in npylstm: bit for bit ------------------------------------------------------


@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_resume_from_keras_file_is_bit_for_bit(runs, data, case):
    run = runs[case]
    model = npylstm.load_model(run["dir"] / "half.keras")
    assert model.optimizer.iterations == 4  # 2 epochs of 2 batches
    for ours, saved in zip(model.optimizer.variables, run["variables"], strict=True):
        np.testing.assert_array_equal(ours, saved)
    assert model.optimizer.get_config() == our_model([], case).optimizer.get_config()
    more = fit(model, data, 4, initial_epoch=2)
    assert run["first"] + more == run["losses"]
    for ours, full in zip(model.get_weights(), run["weights"], strict=True):
        np.testing.assert_array_equal(ours, full)


@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_resume_from_weights_file_is_bit_for_bit(runs, data, initial_weights, case):
    """load_weights into a compiled model whose optimizer has not run: built, then loaded
    (Keras would skip an unbuilt optimizer's state with a warning)."""
    run = runs[case]
    model = our_model(initial_weights, case)
    assert not model.optimizer.built
    model.load_weights(run["dir"] / "half.weights.h5")
    assert model.optimizer.built and model.optimizer.iterations == 4
    more = fit(model, data, 4, initial_epoch=2)
    assert run["first"] + more == run["losses"]
    for ours, full in zip(model.get_weights(), run["weights"], strict=True):
        np.testing.assert_array_equal(ours, full)


def test_compile_false_and_uncompiled_models_ignore_the_state(runs, initial_weights):
    run = runs["adam"]
    assert not npylstm.load_model(run["dir"] / "half.keras", compile=False).compiled
    model = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    model.load_weights(run["dir"] / "half.weights.h5")  # no optimizer: nothing to restore
    assert model.optimizer is None


# -- what the files hold, against Keras's own files ------------------------------------------


def _vars(h5) -> list:
    group = h5["optimizer/vars"]
    return [(k, group[k].shape, group[k].dtype) for k in sorted(group, key=int)]


def _archive_h5(path):
    with zipfile.ZipFile(path) as zf:
        return h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r")


@pytest.mark.parametrize("case", KERAS_CASES)
def test_files_hold_the_optimizer_as_keras_writes_it(runs, keras_runs, case):
    run, krun = runs[case], keras_runs[case]
    with _archive_h5(run["dir"] / "half.keras") as ours, \
            _archive_h5(krun["dir"] / "keras.keras") as theirs:
        assert _vars(ours) == _vars(theirs)
        # Keras numbers its optimizers' names in a process ("adam_1"): the name before that
        keras_name = re.sub(r"_\d+$", "", theirs["optimizer/vars"].attrs["name"])
        assert ours["optimizer/vars"].attrs["name"] == keras_name
    with h5py.File(run["dir"] / "half.weights.h5") as ours:
        assert len(_vars(ours)) == len(run["variables"])
    with h5py.File(run["dir"] / "half.h5") as ours, h5py.File(krun["dir"] / "keras.h5") as theirs:
        names = [n.decode() for n in ours["optimizer_weights"].attrs["weight_names"]]
        keras_names = list(theirs["optimizer_weights"].attrs["weight_names"])
        keras_names = [n.decode() if isinstance(n, bytes) else n for n in keras_names]
        # the same kinds in the same order: iteration, learning_rate, momentum, velocity...
        def kind(name):  # "adam_1/..._kernel_momentum" -> "momentum"
            return re.sub(r"_\d+$", "", name.split("/")[-1]).rsplit("_", 1)[-1]

        assert [kind(n) for n in names] == [kind(n) for n in keras_names]
        assert names[0] == re.sub(r"_\d+/", "/", keras_names[0])  # "adam/iteration"
        ours, theirs = ours["optimizer_weights"], theirs["optimizer_weights"]
        assert [(ours[n].shape, ours[n].dtype) for n in names] == [
            (theirs[n].shape, theirs[n].dtype) for n in keras_names]
    # the values after 2 epochs: ours against Keras's (an independent run)
    assert_close(run["variables"], krun["saved_variables"], f"{case} variables")


def test_an_unbuilt_optimizer_is_written_as_keras_writes_it(keras, tmp_path, initial_weights):
    """A compiled model that never trained: iteration and learning_rate only (Keras
    creates them in the optimizer's constructor); loading it needs no warning."""
    model = our_model(initial_weights, "adam")
    model.save(tmp_path / "ours.keras")
    km = keras_model(keras, initial_weights, "adam")
    with keras_saving():
        km.save(tmp_path / "keras.keras")
    with _archive_h5(tmp_path / "ours.keras") as ours, \
            _archive_h5(tmp_path / "keras.keras") as theirs:
        assert _vars(ours) == _vars(theirs) == [("0", (), np.int32), ("1", (), np.float32)]
        assert float(ours["optimizer/vars/1"][()]) == float(theirs["optimizer/vars/1"][()])
    for path in (tmp_path / "ours.keras", tmp_path / "keras.keras"):
        loaded = npylstm.load_model(path)
        assert loaded.optimizer.iterations == 0
        assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    uncompiled = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    uncompiled.save(tmp_path / "plain.keras")
    with _archive_h5(tmp_path / "plain.keras") as h5:
        assert "optimizer" not in h5


# -- (b) our file resumed in Keras; (c) Keras's file resumed in npylstm ------------------------


@pytest.mark.parametrize("case", KERAS_CASES)
def test_our_file_resumes_in_keras(keras, runs, keras_runs, data, case):
    run, krun = runs[case], keras_runs[case]
    with keras_saving():
        km = keras.saving.load_model(run["dir"] / "half.keras")
    loaded = keras_values(km.optimizer.variables)
    assert [v.dtype for v in loaded] == [v.dtype for v in run["variables"]]
    for theirs, ours in zip(loaded, run["variables"], strict=True):
        np.testing.assert_array_equal(theirs, ours)
    more = fit(km, data, 4, initial_epoch=2)
    assert_close(run["first"] + more, krun["losses"], f"{case} losses")
    assert_close(keras_values(km.weights), krun["weights"], f"{case} weights")


@pytest.mark.parametrize("case", KERAS_CASES)
def test_keras_file_resumes_in_npylstm(runs, keras_runs, data, case):
    krun = keras_runs[case]
    model = npylstm.load_model(krun["dir"] / "keras.keras")
    assert type(model.optimizer).__name__ == OPTIMIZERS[case][0]
    assert len(model.optimizer.variables) == len(krun["saved_variables"])
    for ours, theirs in zip(model.optimizer.variables, krun["saved_variables"], strict=True):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    more = fit(model, data, 4, initial_epoch=2)
    assert_close(more, krun["continued"], f"{case} losses")
    assert_close(model.get_weights(), krun["continued_weights"], f"{case} weights")


# -- (d) legacy .h5 ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["adam"])
def test_keras_legacy_h5_resumes_in_npylstm(keras_runs, data, case):
    """Keras 3 writes optimizer_weights in a legacy .h5; its own load_model cannot resume
    from them (it builds the optimizer on no variables: fit then fails), so the oracle is
    Keras continuing in memory. npylstm loads all of them in order."""
    krun = keras_runs[case]
    model = npylstm.load_model(krun["dir"] / "keras.h5")
    for ours, theirs in zip(model.optimizer.variables, krun["saved_variables"], strict=True):
        np.testing.assert_array_equal(ours, theirs)
    more = fit(model, data, 4, initial_epoch=2)
    assert_close(more, krun["continued"], f"{case} losses")


def test_our_legacy_h5_is_written_uncompiled_with_the_optimizer_weights(runs):
    """As before, a Keras 3-form .h5 has no training_config (Keras 3.15 cannot compile from
    one), so load_model gives an uncompiled model; the optimizer_weights are there as
    Keras writes them."""
    run = runs["adam"]
    with h5py.File(run["dir"] / "half.h5") as h5:
        assert "training_config" not in h5.attrs
        group = h5["optimizer_weights"]
        names = [n.decode() for n in group.attrs["weight_names"]]
        assert names[:2] == ["adam/iteration", "adam/learning_rate"]
        for name, value in zip(names, run["variables"], strict=True):
            np.testing.assert_array_equal(group[name][()], value)
    assert not npylstm.load_model(run["dir"] / "half.h5").compiled


def test_keras2_legacy_state_is_skipped_with_a_warning(tmp_path):
    from pathlib import Path

    source = Path(__file__).parent / "fixtures" / "keras2_stacked.h5"
    path = tmp_path / "keras2_trained.h5"
    path.write_bytes(source.read_bytes())
    with h5py.File(path, "a") as h5:
        del h5["optimizer_weights"]
        group = h5.create_group("optimizer_weights")
        group.attrs["weight_names"] = np.array([b"iteration:0", b"Adam/m/kernel:0"])
        group["iteration:0"] = np.array(7, "int64")
        group["Adam/m/kernel:0"] = np.zeros((2, 2), "float32")
    with pytest.warns(UserWarning, match=r"optimizer state of a Keras 2\.\S+ file is not "
                                         r"restored .*starts fresh"):
        model = npylstm.load_model(path)
    assert model.optimizer.iterations == 0
    npylstm.load_model(source)  # tf.keras's unbuilt optimizer (iteration 0 only): silent


# -- (e) files whose optimizer state does not fit -------------------------------------------


def _edited(src, dst, edit):
    """A copy of the .keras archive ``src`` whose model.weights.h5 ``edit(h5)`` changed."""
    with zipfile.ZipFile(src) as zin:
        members = {name: zin.read(name) for name in zin.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "a") as h5:
        edit(h5)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(dst, "w") as zout:
        for name, content in members.items():
            zout.writestr(name, content)
    return dst


def _drop_last(h5):
    group = h5["optimizer/vars"]
    del group[str(len(group) - 1)]


def _reshape_3(h5):
    del h5["optimizer/vars/3"]
    h5["optimizer/vars/3"] = np.zeros((2, 2), "float32")


def test_missing_optimizer_state_warns(runs, tmp_path):
    path = _edited(runs["adam"]["dir"] / "half.keras", tmp_path / "none.keras",
                   lambda h5: h5.__delitem__("optimizer"))
    with pytest.warns(UserWarning, match=r"none\.keras' holds no optimizer state .*optimizer "
                                         r"'adam' \(Adam\) starts fresh"):
        model = npylstm.load_model(path)
    assert model.optimizer.iterations == 0
    npylstm.load_model(path, compile=False)  # no warning


def test_wrong_count_warns_as_keras_does(keras, runs, tmp_path):
    path = _edited(runs["adam"]["dir"] / "half.keras", tmp_path / "count.keras", _drop_last)
    with pytest.warns(UserWarning, match=r"count\.keras': skipping the optimizer state: "
                                         r"optimizer 'adam' \(Adam\) has 12 variables for this "
                                         r"model \(iteration, learning_rate, .*the file has 11"):
        model = npylstm.load_model(path)
    assert model.optimizer.iterations == 0 and not np.any(model.optimizer.variables[2])
    with keras_saving(), pytest.warns(UserWarning, match="Skipping variable loading for "
                                                         "optimizer 'adam'.* 11 variables"):
        keras.saving.load_model(path)


def test_wrong_shape_is_an_error_as_in_keras(keras, runs, tmp_path, initial_weights):
    path = _edited(runs["adam"]["dir"] / "half.keras", tmp_path / "shape.keras", _reshape_3)
    with pytest.raises(KerasFileError, match=r"shape\.keras': the file's optimizer variables "
                                             r"do not fit optimizer 'adam' \(Adam\): .*variable 3 "
                                             r"'sequential\S*_lstm\S*_kernel_velocity' has shape "
                                             r"\(3, 16\), received shape \(2, 2\)"):
        npylstm.load_model(path)
    with keras_saving(), pytest.raises(ValueError, match="could not be loaded"):
        keras.saving.load_model(path)
    weights = tmp_path / "shape.weights.h5"
    weights.write_bytes((runs["adam"]["dir"] / "half.weights.h5").read_bytes())
    with h5py.File(weights, "a") as h5:
        _reshape_3(h5)
    model = our_model(initial_weights, "adam")
    with pytest.raises(KerasFileError, match=r"shape\.weights\.h5'.*variable 3"):
        model.load_weights(weights)


def test_gapped_variable_indices_are_an_error(runs, tmp_path):
    def gap(h5):
        h5["optimizer/vars"].move("5", "50")

    path = _edited(runs["adam"]["dir"] / "half.keras", tmp_path / "gap.keras", gap)
    with pytest.raises(KerasFileError, match=r"gap\.keras': the optimizer: expected datasets "
                                             r"0, 1, \.\.\. in optimizer/vars, found .*'50'"):
        npylstm.load_model(path)


def test_a_trained_optimizer_keeps_its_state_from_a_file_without_one(runs, data,
                                                                     initial_weights,
                                                                     tmp_path):
    plain = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    plain.set_weights(initial_weights)
    plain.save_weights(tmp_path / "plain.weights.h5")
    model = our_model(initial_weights, "adam")
    fit(model, data, 1)
    with pytest.warns(UserWarning, match=r"plain\.weights\.h5' holds no optimizer state: "
                                         r"optimizer 'adam' \(Adam\) keeps its own \(2 "
                                         "iterations\\)"):
        model.load_weights(tmp_path / "plain.weights.h5")
    assert model.optimizer.iterations == 2
    fresh = our_model(initial_weights, "adam")
    fresh.load_weights(tmp_path / "plain.weights.h5")  # nothing to lose: no warning
    assert not fresh.optimizer.built


def test_keras_functional_bidirectional_file_resumes_in_npylstm(keras, data, tmp_path):
    """A functional model with a Bidirectional LSTM (two cells of equal shapes: a wrong
    order of the optimizer's slots would load without complaint, and train differently)."""
    inputs = keras.Input((5, 3))
    hidden = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.GRU(2)(hidden))
    km = keras.Model(inputs, outputs)
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    fit(km, data, 1)
    with keras_saving():
        km.save(tmp_path / "bidi.keras")
    saved = keras_values(km.optimizer.variables)
    more = fit(km, data, 3, initial_epoch=1)
    model = npylstm.load_model(tmp_path / "bidi.keras")
    for ours, theirs in zip(model.optimizer.variables, saved, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert_close(fit(model, data, 3, initial_epoch=1), more, "bidirectional losses")
    assert_close(model.get_weights(), keras_values(km.weights), "bidirectional weights")


# -- in memory: to_keras / from_keras carry the compile settings and the optimizer state ------


def test_to_keras_and_from_keras_carry_the_optimizer_state(keras, runs, keras_runs, data,
                                                           initial_weights):
    run, krun = runs["adam"], keras_runs["adam"]
    half = our_model(initial_weights, "adam")
    fit(half, data, 2)
    km = half.to_keras()
    assert type(km.optimizer).__name__ == "Adam" and km.loss == "mse"
    for theirs, ours in zip(keras_values(km.optimizer.variables), half.optimizer.variables,
                            strict=True):
        np.testing.assert_array_equal(theirs, ours)
    more = fit(km, data, 4, initial_epoch=2)
    assert_close(run["first"] + more, krun["losses"], "to_keras losses")
    assert_close(keras_values(km.weights), krun["weights"], "to_keras weights")

    cont = keras_model(keras, initial_weights, "adam")
    fit(cont, data, 2)
    model = npylstm.from_keras(cont)
    assert model.compiled and model.optimizer.iterations == 4
    assert_close(fit(model, data, 4, initial_epoch=2), krun["continued"], "from_keras losses")
    assert_close(model.get_weights(), krun["continued_weights"], "from_keras weights")
    # never trained: compiled both ways, fresh optimizers
    assert our_model(initial_weights, "adam").to_keras().optimizer.iterations == 0
    assert npylstm.from_keras(keras_model(keras, initial_weights, "adam")).optimizer.built


def test_to_keras_refuses_optimizer_variables_that_do_not_fit(keras, data, initial_weights,
                                                              monkeypatch):
    """Our optimizer's variables always fit Keras's built on the same model; should they
    not (a layout bug), to_keras says which, rather than assigning some."""
    from npylstm.io import keras_live
    from npylstm.io.model_file import OptimizerState

    model = our_model(initial_weights, "adam")
    fit(model, data, 1)
    state = keras_live._optimizer_state(model)
    short = OptimizerState(state.name, state.variables[:-1])
    monkeypatch.setattr(keras_live, "_optimizer_state", lambda _: short)
    with pytest.raises(KerasFileError, match=r"to_keras: optimizer 'adam' has 11 variables, "
                                             r"Keras's '\S+' built on the model has 12"):
        model.to_keras()
    bent = OptimizerState(state.name, [*state.variables[:3], np.zeros((2, 2), "float32"),
                                       *state.variables[4:]])
    monkeypatch.setattr(keras_live, "_optimizer_state", lambda _: bent)
    with pytest.raises(KerasFileError, match=r"to_keras: optimizer variable \S+velocity has "
                                             r"shape \(3, 16\), ours has \(2, 2\)"):
        model.to_keras()


@pytest.mark.parametrize("optimizer", [
    pytest.param(lambda: npylstm.optimizers.Adam(0.01, use_ema=True, ema_overwrite_frequency=3),
                 id="adam_ema"),
    pytest.param(lambda: npylstm.optimizers.SGD(0.05, momentum=0.9,
                                                gradient_accumulation_steps=3),
                 id="sgd_accumulation"),
])
def test_ema_and_accumulation_variables_survive_the_file(optimizer, data, initial_weights,
                                                         tmp_path):
    """EMA averages and gradient accumulators are optimizer variables too: saved mid-way
    (an accumulation not yet applied: 2 batches of 3), the loaded model continues exactly
    as the model in memory does."""
    model = npylstm.Sequential([npylstm.Input((5, 3)), LSTM(4), Dense(1)])
    model.set_weights([w.copy() for w in initial_weights])
    model.compile(optimizer=optimizer(), loss="mse")
    fit(model, data, 1)
    model.save(tmp_path / "mid.keras")
    back = npylstm.load_model(tmp_path / "mid.keras")
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert back.optimizer.variable_names == model.optimizer.variable_names
    for ours, saved in zip(back.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, saved)
    assert fit(back, data, 3, initial_epoch=1) == fit(model, data, 3, initial_epoch=1)
    for ours, theirs in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
