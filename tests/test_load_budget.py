"""A weight budget before any allocation (issue #13, item 1): a model built from a file's
config is built with zero placeholders (``npylstm.initializers.deferred``) within the
values the file holds, and every initializer checks its weight's size first.

Expected values are hand computations written out here: the element counts of the small
model's weights (LSTM(5) over 3 features: 3*20 + 5*20 + 20 = 180; Dense(1): 5 + 1 = 6),
the declared shapes of each hostile edit, and the budget ``186 + BUDGET_SLACK``. The
loaded models' numbers are compared bit for bit with the same files loaded with the
initializers run (the budget context replaced by a no-op), which is how loading worked
before.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from keras_archive import edited_keras_config  # tests/ is on sys.path

import npylstm
from npylstm import cli, initializers
from npylstm.io import KerasFileError, budget, load
from npylstm.io.limits import LimitExceededError, raised_limits

SLACK = budget.BUDGET_SLACK
FILE_VALUES = 186  # LSTM(5) on 3 features: 60 + 100 + 20; Dense(1): 5 + 1
HOLDS = (f"more than the {FILE_VALUES + SLACK} the file holds \\({FILE_VALUES} values in its "
         f"weight arrays, plus {SLACK} of slack\\)")


def _edit_config(config: dict, edit: str) -> None:
    layers = config["config"]["layers"]
    if edit == "units9":
        layers[1]["config"]["units"] = 10**9
    elif edit == "units3000":
        layers[1]["config"]["units"] = 3000
    elif edit == "units6":
        layers[1]["config"]["units"] = 6
    elif edit == "batch":
        layers[0]["config"]["batch_shape"] = [None, 50, 10**9]
    elif edit == "dense12":
        layers[2]["config"]["units"] = 10**12
    else:  # pragma: no cover
        raise AssertionError(edit)


#: edit -> (layer, initializer, declared shape, values declared so far)
EDITS = {
    "units9": ("layer 'lstm' \\(LSTM\\), its kernel_initializer: GlorotUniform\\(seed=None\\)",
               (3, 4 * 10**9), 3 * 4 * 10**9),
    "units3000": ("layer 'lstm' \\(LSTM\\), its recurrent_initializer: Orthogonal\\(gain=1.0, "
                  "seed=None\\)", (3000, 12000), 3 * 12000 + 3000 * 12000),
    "batch": ("layer 'lstm' \\(LSTM\\), its kernel_initializer: GlorotUniform\\(seed=None\\)",
              (10**9, 20), 10**9 * 20),
    "dense12": ("layer 'head' \\(Dense\\), its kernel_initializer: GlorotUniform\\(seed=None\\)",
                (5, 10**12), 180 + 5 * 10**12),
}


def _refusal(source: str, edit: str) -> str:
    owner, shape, declared = EDITS[edit]
    values = int(np.prod(shape, dtype=object))
    return (f"^{source}: {owner} declares a weight of shape \\({shape[0]}, {shape[1]}\\) "
            f"\\({values} values\\), bringing the weights declared so far to {declared} "
            f"values, {HOLDS}$")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    where = tmp_path_factory.mktemp("budget")
    model = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5, name="lstm"),
                                npylstm.layers.Dense(1, name="head")])
    model.save(where / "m.keras")
    model.save(where / "m.h5")
    model.save_weights(where / "m.weights.h5")
    raw = {"class_name": "Sequential", "config": model.get_config()}
    (where / "m.json").write_text(json.dumps(raw))
    np.save(where / "x.npy", np.random.default_rng(0).normal(size=(2, 4, 3)).astype("f4"))
    for edit in (*EDITS, "units6"):
        with zipfile.ZipFile(where / "m.keras") as zin, \
                zipfile.ZipFile(where / f"{edit}.keras", "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "config.json":
                    config = json.loads(data)
                    _edit_config(config, edit)
                    data = json.dumps(config)
                zout.writestr(info, data)
        (where / f"{edit}.h5").write_bytes((where / "m.h5").read_bytes())
        with h5py.File(where / f"{edit}.h5", "r+") as f:
            config = json.loads(f.attrs["model_config"])
            _edit_config(config, edit)
            f.attrs["model_config"] = json.dumps(config)
        config = json.loads(json.dumps(raw))
        _edit_config(config, edit)
        (where / f"{edit}.json").write_text(json.dumps(config))
    return where, model


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_file_declaring_more_than_it_holds_is_refused_at_once(folder, edit, suffix):
    where, _ = folder
    bad = where / f"{edit}{suffix}"
    start = time.perf_counter()
    with pytest.raises(LimitExceededError, match=_refusal(f"'{bad}'", edit)) as info:
        npylstm.load_model(bad)
    assert time.perf_counter() - start < 1.0
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("edit", list(EDITS))
def test_json_config_with_weights_is_refused_at_once(folder, edit):
    where, _ = folder
    config, weights = where / f"{edit}.json", where / "m.weights.h5"
    start = time.perf_counter()
    with pytest.raises(LimitExceededError,
                       match=_refusal(f"'{weights}' with the config '{config}'", edit)):
        npylstm.io.load_any(weights, config=config)
    assert time.perf_counter() - start < 1.0


def test_state_dict_with_a_json_config_is_budgeted_by_its_arrays(folder, tmp_path):
    where, model = folder
    lstm_only = npylstm.Sequential([npylstm.Input((4, 3)), npylstm.layers.LSTM(5)])
    lstm_only.layers[-1].set_weights(model.layers[0].get_weights())
    sd = tmp_path / "sd.npz"
    np.savez(sd, **npylstm.io.to_torch_state_dict(lstm_only))
    config = json.loads(json.dumps({"class_name": "Sequential",
                                    "config": lstm_only.get_config()}))
    good = tmp_path / "lstm.json"
    good.write_text(json.dumps(config))
    loaded = npylstm.io.load_any(sd, config=good)
    x = np.load(where / "x.npy")
    assert np.array_equal(loaded.predict(x, verbose=0), lstm_only.predict(x, verbose=0))
    config["config"]["layers"][1]["config"]["units"] = 3000
    bad = tmp_path / "big.json"
    bad.write_text(json.dumps(config))
    # the state dict holds 4*5*3 + 4*5*5 + 2 * 4*5 = 200 values (PyTorch's two biases)
    with pytest.raises(LimitExceededError, match=f"^'{sd}' with the config '{bad}': layer "
                       "'lstm.*' \\(LSTM\\), its recurrent_initializer: .* more than the "
                       f"{200 + SLACK} the file holds \\(200 values"):
        npylstm.io.load_any(sd, config=bad)


def test_small_mismatch_reaches_the_shape_error(folder):
    """Within the slack, the config's build goes on to _assign_weights's clearer error."""
    where, _ = folder
    shapes = ("expects 3 weights \\['kernel', 'recurrent_kernel', 'bias'\\] with shapes "
              "\\[\\(3, 24\\), \\(6, 24\\), \\(24,\\)\\], the file has 3 with shapes "
              "\\[\\(3, 20\\), \\(5, 20\\), \\(20,\\)\\]")
    for path in (where / "units6.keras", where / "units6.h5"):
        with pytest.raises(KerasFileError, match=f"^'{path}': layer 'lstm' \\(LSTM\\) {shapes}"):
            npylstm.load_model(path)
    with pytest.raises(KerasFileError, match=f"'{where / 'm.weights.h5'}': layer 'lstm' "
                       f"\\(LSTM\\) {shapes}"):
        npylstm.io.load_any(where / "m.weights.h5", config=where / "units6.json")


def test_a_json_config_alone_is_bounded_by_max_model_elements(folder):
    where, _ = folder
    bad = where / "units9.json"
    with pytest.raises(LimitExceededError, match=f"^config '{bad}': layer 'lstm' \\(LSTM\\), "
                       "its kernel_initializer: GlorotUniform\\(seed=None\\) declares a weight "
                       "of shape \\(3, 4000000000\\) \\(12000000000 values\\), bringing the "
                       "weights declared so far to 12000000000 values, more than the 268435456 "
                       "the limit MAX_MODEL_ELEMENTS allows for a config without weights "
                       "\\(set the environment variable NPYLSTM_MAX_MODEL_ELEMENTS"):
        npylstm.io.model_from_config(bad)
    # a config alone runs its initializers: the same seed, the same weights as in code
    model, has_weights = npylstm.io.model_from_config(where / "m.json")
    assert not has_weights and model.count_params() == FILE_VALUES
    with raised_limits(MAX_MODEL_ELEMENTS=FILE_VALUES - 1), \
            pytest.raises(LimitExceededError, match="bringing the weights declared so far to "
                          f"{FILE_VALUES} values, more than the {FILE_VALUES - 1} the limit "
                          "MAX_MODEL_ELEMENTS allows"):
        npylstm.io.model_from_config(where / "m.json")


@pytest.mark.parametrize("argv, message", [
    (["predict", "units9.keras", "--input", "x.npy", "--output", "y.npy"],
     _refusal("'units9.keras'", "units9")),
    (["predict", "batch.h5", "--input", "x.npy", "--output", "y.npy"],
     _refusal("'batch.h5'", "batch")),
    (["convert", "units3000.keras", "out.weights.h5"], _refusal("'units3000.keras'",
                                                                 "units3000")),
    (["convert", "m.weights.h5", "out.keras", "--config", "dense12.json"],
     _refusal("'m.weights.h5' with the config 'dense12.json'", "dense12")),
])
def test_cli_refuses_with_one_line_and_status_2(folder, monkeypatch, capsys, argv, message):
    where, _ = folder
    monkeypatch.chdir(where)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    command = argv[0]
    assert err.startswith(f"npylstm {command}: error: "), err
    assert re.match(message.replace("^", "", 1), err.removeprefix(f"npylstm {command}: error: "))
    assert not (where / "out.keras").exists() and not (where / "out.weights.h5").exists()


# -- what a config can declare beyond units -----------------------------------------------------


def _saved(tmp_path, layers, name):
    model = npylstm.Sequential(layers)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def _edited(path, edit, out):
    """A copy of the saved model with ``edit(layers)`` applied to its config's layer list."""
    return edited_keras_config(path, out, lambda config: edit(config["config"]["layers"]))


def _set(index, key, value, inner=False):
    def edit(layers):
        config = layers[index]["config"]
        if inner:
            config = config["layer"]["config"]
        config[key] = value
    return edit


L = npylstm.layers
OTHER_SIZES = {
    # an Embedding's table: input_dim x output_dim
    "embedding_input_dim": (lambda: [npylstm.Input((4,)), L.Embedding(10, 3), L.LSTM(2)],
                            _set(1, "input_dim", 10**12), (10**12, 3)),
    # a Conv1D kernel: (kernel_size, channels, filters)
    "conv_filters": (lambda: [npylstm.Input((6, 3)), L.Conv1D(2, 3)],
                     _set(1, "filters", 10**9), (3, 3, 10**9)),
    "conv_kernel_size": (lambda: [npylstm.Input((6, 3)), L.Conv1D(2, 3, padding="same")],
                         _set(1, "kernel_size", [10**9]), (10**9, 3, 2)),
    # a TimeDistributed layer's inner Dense
    "time_distributed": (lambda: [npylstm.Input((4, 3)), L.TimeDistributed(L.Dense(2))],
                         _set(1, "units", 10**12, inner=True), (3, 10**12)),
    # the LSTM after RepeatVector sees the features, not n
    "feature_after_repeat": (lambda: [npylstm.Input((3,)), L.RepeatVector(4), L.LSTM(2)],
                             _set(0, "batch_shape", [None, 10**10]), (10**10, 8)),
}


@pytest.mark.parametrize("case", list(OTHER_SIZES))
def test_other_declared_sizes_hit_the_budget(tmp_path, case):
    layers, edit, shape = OTHER_SIZES[case]
    path = _saved(tmp_path, layers(), case)
    bad = _edited(path, edit, tmp_path / f"bad_{case}.keras")
    dims = ", ".join(str(d) for d in shape)
    start = time.perf_counter()
    with pytest.raises(LimitExceededError, match=f"^'{bad}': layer .* declares a weight of "
                       f"shape \\({dims}\\)"):
        npylstm.load_model(bad)
    assert time.perf_counter() - start < 1.0


def test_multi_head_attention_heads_times_key_dim(tmp_path):
    q = npylstm.Input((4, 6), name="q")
    y = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(q, q)
    path = tmp_path / "mha.keras"
    npylstm.Model(q, y).save(path)

    def edit(layers):
        layer = next(x for x in layers if x["class_name"] == "MultiHeadAttention")
        layer["config"]["num_heads"] = 10**6
        layer["config"]["key_dim"] = 10**6
    bad = _edited(path, edit, tmp_path / "bad_mha.keras")
    # the query kernel (6, heads, key_dim), seen as EinsumDense's (6, heads * key_dim)
    with pytest.raises(LimitExceededError, match=f"^'{bad}': layer 'mha' "
                       "\\(MultiHeadAttention\\), its kernel_initializer: .* shape "
                       "\\(6, 1000000000000\\)"):
        npylstm.load_model(bad)


# -- the loaded numbers do not change ---------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def _fixture_files():
    names = sorted(p.name for p in FIXTURES.glob("*") if p.suffix in (".keras", ".h5")
                   and "weights" not in p.name)
    return names


@pytest.mark.parametrize("name", _fixture_files())
def test_deferred_build_loads_the_same_numbers(monkeypatch, name):
    """Every fixture model, loaded with placeholders, has bit for bit the weights (and
    the predictions) of the same file loaded with its initializers run."""
    path = FIXTURES / name
    try:
        deferred = npylstm.load_model(path, compile=False)
    except KerasFileError as exc:
        deferred = exc
    monkeypatch.setattr(load, "file_budget", lambda *a, **k: contextlib.nullcontext())
    with initializers.limited(None) as spent:  # counts the values the initializers made
        try:
            eager = npylstm.load_model(path, compile=False)
        except KerasFileError as exc:  # refused before too: with the same message
            assert str(exc) == str(deferred)
            return
    assert spent.declared == eager.count_params() > 0
    a, b = deferred.get_weights(), eager.get_weights()
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()
    rng = np.random.default_rng(0)
    shapes = deferred.input_shape if isinstance(deferred.input_shape, list) else \
        [deferred.input_shape]
    if any(d is None for s in shapes for d in s[2:]) or any(len(s) < 2 for s in shapes):
        return
    inputs = [rng.normal(size=(2, *(d or 3 for d in s[1:]))).astype("float32")
              for s in shapes]
    if any(type(layer).__name__ == "Embedding" for layer in deferred.layers):
        inputs = [np.abs(x * 0).astype("int32") for x in inputs]
    x = inputs[0] if len(inputs) == 1 else inputs
    ya, yb = _flat(deferred.predict(x, verbose=0)), _flat(eager.predict(x, verbose=0))
    assert len(ya) == len(yb) > 0
    for u, v in zip(ya, yb, strict=True):
        assert u.tobytes() == v.tobytes()


def _flat(y) -> list:
    if isinstance(y, dict):
        return [y[k] for k in sorted(y)]
    return list(y) if isinstance(y, list | tuple) else [y]


# -- user code: the per-array limits ------------------------------------------------------------


def test_a_users_huge_layer_is_a_value_error_naming_the_limit():
    layer = L.LSTM(10**9, name="big")
    with pytest.raises(ValueError, match="^layer 'big' \\(LSTM\\), its kernel_initializer: "
                       "GlorotUniform\\(seed=None\\) declares a weight of shape "
                       "\\(4, 4000000000\\) \\(16000000000 values, 64000000000 bytes\\), more "
                       "than the limit MAX_ARRAY_ELEMENTS = 536870912 values \\(set the "
                       "environment variable NPYLSTM_MAX_ARRAY_ELEMENTS, NPYLSTM_LIMIT_SCALE, "
                       "or use npylstm.io.limits.raised_limits\\(\\) for a genuinely large "
                       "model\\)$") as info:
        layer.build((None, 3, 4))
    assert not isinstance(info.value, KerasFileError)
    dense = L.Dense(2**20, name="wide")
    with raised_limits(MAX_ARRAY_BYTES=2**20 * 8 - 1), \
            pytest.raises(ValueError, match="shape \\(2, 1048576\\) \\(2097152 values, 8388608 "
                          "bytes\\), more than the limit MAX_ARRAY_BYTES = 8388607 bytes"):
        dense.build((None, 2))


def test_environment_variable_raises_the_per_array_limit(monkeypatch):
    monkeypatch.setenv("NPYLSTM_MAX_ARRAY_ELEMENTS", "10")
    with pytest.raises(ValueError, match="more than the limit MAX_ARRAY_ELEMENTS = 10 values"):
        initializers.Zeros()((3, 4))
    assert initializers.Zeros()((2, 5)).shape == (2, 5)
    monkeypatch.delenv("NPYLSTM_MAX_ARRAY_ELEMENTS")
    assert initializers.Zeros()((3, 4)).shape == (3, 4)


def test_every_initializer_and_unit_forget_bias_go_through_the_hook():
    names = ["zeros", "ones", "constant", "random_uniform", "random_normal", "glorot_uniform",
             "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
             "orthogonal"]
    with initializers.deferred(10**6) as spent:
        for name in names:
            w = initializers.get(name)((3, 4), "float64")
            assert w.dtype == np.float64 and w.shape == (3, 4) and not w.any()
        bias = initializers.unit_forget_bias(initializers.Ones(), 5)
    assert bias.shape == (20,) and not bias.any()  # a placeholder: the file fills it
    assert spent.declared == 12 * len(names) + 20

    class Mine(initializers.GlorotUniform):  # a user's subclass, calling super()
        def __call__(self, shape, dtype="float32"):
            return super().__call__(shape, dtype) * 0 + 7

    with initializers.limited(100) as spent:
        assert (Mine(seed=0)((2, 3)) == 7).all()
        initializers.unit_forget_bias(initializers.Zeros(), 5)
    assert spent.declared == 6 + 20  # each call counted once
    with initializers.deferred(10) as spent:
        assert not Mine()((2, 3)).any()
    # outside any block the initializers run as before
    assert initializers.unit_forget_bias(initializers.Zeros(), 2).tolist() == \
        [0, 0, 1, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(initializers.Orthogonal(seed=1)((4, 4)) @
                               initializers.Orthogonal(seed=1)((4, 4)).T, np.eye(4),
                               atol=1e-6)


def test_the_budget_counts_with_python_integers():
    with initializers.deferred(2**62) as spent, pytest.raises(
            ValueError, match="shape \\(4294967296, 4294967296\\) \\(18446744073709551616 "
            "values\\), bringing the weights declared so far to 18446744073709551616 values, "
            f"more than the {2**62} the file holds"):
        initializers.Zeros()((2**32, 2**32))
    assert spent.declared == 2**64
    with pytest.raises(ValueError, match="expected budget to be a non-negative integer or "
                       "None, received -1"):
        initializers.deferred(-1).__enter__()
    with pytest.raises(ValueError, match="expected budget to be a non-negative integer or "
                       "None, received 1.5"):
        initializers.limited(1.5).__enter__()


# -- memory -------------------------------------------------------------------------------------


def test_refusals_stay_within_a_memory_bound(folder):
    """Every refusal above, in a fresh interpreter: its peak RSS (ru_maxrss) grows by less
    than 300 MB over the baseline taken after a good load."""
    where, _ = folder
    script = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        import npylstm
        where = Path({str(where)!r})
        npylstm.load_model(where / "m.keras")
        npylstm.io.load_any(where / "m.weights.h5", config=where / "m.json")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        refused = 0
        for edit in {list(EDITS)!r}:
            calls = [lambda: npylstm.load_model(where / (edit + ".keras")),
                     lambda: npylstm.load_model(where / (edit + ".h5")),
                     lambda: npylstm.io.load_any(where / "m.weights.h5",
                                                 config=where / (edit + ".json"))]
            if edit != "units3000":  # alone, a legitimate 36M-value config: it builds
                calls.append(lambda: npylstm.io.model_from_config(where / (edit + ".json")))
            for call in calls:
                try:
                    call()
                except ValueError:
                    refused += 1
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(refused, (peak - base) * 1024)
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    refused, grown = map(int, result.stdout.split()[-2:])
    assert refused == 4 * len(EDITS) - 1  # every call made was refused
    assert grown < 300 * 2**20, grown


def test_an_initializer_keras_would_refuse_is_refused_under_the_deferred_build(folder, tmp_path,
                                                                               keras):
    """No value is drawn while loading, but a config Keras cannot build still fails: an
    Orthogonal bias_initializer (rank 1) is refused, as Keras refuses it when it builds
    (with unit_forget_bias, Keras calls it on the (units,) = (5,) input-gate block first)."""
    where, _ = folder
    with pytest.raises(ValueError):  # the oracle: Keras's own Orthogonal on a 1-D shape
        keras.initializers.Orthogonal()((5,))
    orthogonal = {"module": "keras.initializers", "class_name": "Orthogonal",
                  "config": {"gain": 1.0, "seed": None}, "registered_name": None}
    bad = _edited(where / "m.keras", _set(1, "bias_initializer", orthogonal),
                  tmp_path / "orthogonal_bias.keras")
    with pytest.raises(KerasFileError, match=r"Orthogonal: expected a shape of rank >= 2, "
                       r"received \(5,\)"):
        npylstm.load_model(bad)
