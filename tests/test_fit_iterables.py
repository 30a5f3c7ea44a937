"""fit / evaluate / predict on generators, iterators and PyDataset-like objects (Keras
3.15.1's data adapters and epoch iterator), Keras's callback hooks in evaluate, predict and
fit's validation, finalize_variable_values and loss_scale_factor, and the bad inputs.
One trajectory against Keras: a ``keras.utils.PyDataset`` (the same object fed to both)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import npylstm
from npylstm import Input, Sequential, optimizers
from npylstm.callbacks import Callback
from npylstm.layers import LSTM, Dense


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(4)
    return (rng.normal(size=(20, 4, 2)).astype("float32"),
            rng.normal(size=(20, 1)).astype("float32"),
            rng.uniform(0.5, 2.0, 20).astype("float32"))


def _model(seed_weights=None):
    model = Sequential([Input((4, 2)), LSTM(3), Dense(1)])
    if seed_weights is not None:
        model.set_weights(seed_weights)
    model.compile(optimizers.SGD(0.1), "mse", weighted_metrics=["mae"])
    return model


@pytest.fixture(scope="module")
def start():
    return Sequential([Input((4, 2)), LSTM(3), Dense(1)]).get_weights()


def _batches(x, y, sw=None, size=6):
    for lo in range(0, len(x), size):
        rows = slice(lo, lo + size)
        yield (x[rows], y[rows]) if sw is None else (x[rows], y[rows], sw[rows])


def test_generator_epoch_equals_arrays(data, start):
    x, y, sw = data
    arrays = _model(start).fit(x, y, sample_weight=sw, batch_size=6, shuffle=False,
                               verbose=0).history
    ours = _model(start)
    gen = ours.fit(_batches(x, y, sw), shuffle=False, verbose=0).history
    assert gen == arrays
    # evaluate and predict take batches too
    expected = ours.evaluate(x, y, sample_weight=sw, batch_size=6, verbose=0)
    assert ours.evaluate(_batches(x, y, sw), verbose=0) == pytest.approx(expected)
    np.testing.assert_array_equal(ours.predict(_batches(x, y), verbose=0),
                                  ours.predict(x, batch_size=6, verbose=0))
    np.testing.assert_array_equal(ours.predict((b[0] for b in _batches(x, y)), verbose=0),
                                  ours.predict(x, batch_size=6, verbose=0))


class Batches:
    """A PyDataset-like sequence (``__len__`` / ``__getitem__`` and the epoch hooks)."""

    def __init__(self, x, y, size=8):
        self.x, self.y, self.size = x, y, size
        self.epochs = 0

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        rows = slice(i * self.size, (i + 1) * self.size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs += 1


def test_pydataset_like_is_reused_every_epoch_and_shuffled_by_batch(data, start):
    x, y, _ = data
    arrays = _model(start).fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    source = Batches(x, y)
    assert _model(start).fit(source, epochs=3, shuffle=False, verbose=0).history == arrays
    assert source.epochs == 3
    seen = []

    class Spy(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    shuffled = _model(start).fit(Batches(x, y), epochs=2, callbacks=[Spy()], verbose=0)
    assert seen == [0, 1, 2] * 2 and len(shuffled.history["loss"]) == 2


def test_keras_pydataset_matches_keras(keras, data):
    x, y, _ = data

    class KerasBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.inner = Batches(x, y, size=6)

        def __len__(self):
            return len(self.inner)

        def __getitem__(self, i):
            return self.inner[i]

    theirs = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(3),
                               keras.layers.Dense(1)])
    ours = _model([np.asarray(v.value) for v in theirs.weights])
    theirs.compile(keras.optimizers.SGD(0.1), "mse", weighted_metrics=["mae"])
    settings = {"epochs": 4, "shuffle": False, "verbose": 0,
                "validation_data": KerasBatches()}
    expected = theirs.fit(KerasBatches(), **settings).history
    got = ours.fit(KerasBatches(), **settings).history
    assert sorted(got) == sorted(expected)
    worst = 0.0
    for key, values in expected.items():
        np.testing.assert_allclose(got[key], values, rtol=1e-4, err_msg=key)
        worst = max(worst, float(np.max(np.abs(np.subtract(got[key], values)) / np.abs(values))))
    for mine, theirs_w in zip(ours.get_weights(), [np.asarray(v.value) for v in
                                                     theirs.weights], strict=True):
        np.testing.assert_allclose(mine, theirs_w, rtol=1e-4, atol=1e-6)
    print({"largest relative difference": worst})


def test_steps_per_epoch_carries_batches_over_and_warns_when_data_runs_out(data, start):
    x, y, _ = data
    model = _model(start)
    seen = []

    class Spy(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    # 4 finite batches, 3 per epoch: the second epoch gets one, then Keras's warning
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = model.fit(_batches(x, y), steps_per_epoch=3, epochs=3, shuffle=False,
                            verbose=0, callbacks=[Spy()])
    assert seen == [0, 1, 2, 0] and len(history.history["loss"]) == 2
    # a one-shot generator without steps: the second epoch finds it empty, training stops
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = model.fit(_batches(x, y), epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 1
    # arrays with steps_per_epoch: Keras's batch size ceil(20 / 2) = 10
    seen.clear()
    model.fit(x, y, steps_per_epoch=2, epochs=1, verbose=0, callbacks=[Spy()])
    assert seen == [0, 1]


def test_shuffle_with_a_generator_warns_as_keras(data, start):
    x, y, _ = data
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored"):
        _model(start).fit(_batches(x, y), verbose=0)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda m, x, y: m.fit(itertools.cycle([(x, y)]), verbose=0, shuffle=False), ValueError,
     r"x is infinite: when passing an infinitely repeating dataset, you must specify the "
     r"`steps_per_epoch` argument"),
    (lambda m, x, y: m.fit(x, y, validation_data=itertools.repeat((x, y)), verbose=0),
     ValueError, r"validation_data is infinite: .* specify the `validation_steps` argument"),
    (lambda m, x, y: m.evaluate(itertools.repeat((x, y)), verbose=0), ValueError,
     r"specify the `steps` argument"),
    (lambda m, x, y: m.fit(iter([[x, y]]), verbose=0, shuffle=False), ValueError,
     r"the generator must return a tuple, either \(input,\) or \(inputs, targets\) or "
     r"\(inputs, targets, sample_weights\). Received: list"),
    (lambda m, x, y: m.fit(iter([(x, y, y, y)]), verbose=0, shuffle=False), ValueError,
     r"expected each batch as \(x,\), \(x, y\) or \(x, y, sample_weight\), received a tuple "
     r"of 4 elements"),
    (lambda m, x, y: m.fit(iter([(x,)]), verbose=0, shuffle=False), ValueError,
     r"each batch must hold targets: \(x, y\) or \(x, y, sample_weight\)"),
    (lambda m, x, y: m.fit(iter([(x, y[:3])]), verbose=0, shuffle=False), ValueError,
     r"x and y must have the same number of samples"),
    (lambda m, x, y: m.fit(iter([(x, y)]), y, verbose=0, shuffle=False), ValueError,
     r"when providing `x` as a generator, `y` should not be passed"),
    (lambda m, x, y: m.fit(iter([(x, y)]), sample_weight=y, verbose=0, shuffle=False),
     ValueError, r"`sample_weight` should not be passed"),
    (lambda m, x, y: m.fit(iter([(x, y)]), class_weight={0: 1.0}, verbose=0, shuffle=False),
     ValueError, r"argument `class_weight` is not supported for Python generator inputs"),
    (lambda m, x, y: m.fit(iter([(x, y)]), validation_split=0.5, verbose=0, shuffle=False),
     ValueError, r"validation_split is only supported for arrays"),
    (lambda m, x, y: m.fit(iter([(x, y)]), steps_per_epoch=0, verbose=0), ValueError,
     r"expected steps_per_epoch to be an integer >= 1, received 0"),
    (lambda m, x, y: m.fit(x, y, validation_freq=0, verbose=0), ValueError,
     r"expected validation_freq to be an integer >= 1 or a list of epochs"),
])
def test_bad_iterables(data, start, call, error, message):
    x, y, _ = data
    with pytest.raises(error, match=message):
        call(_model(start), x, y)


def test_an_exhausted_validation_generator_is_an_error(data, start):
    x, y, _ = data
    with pytest.raises(ValueError, match="evaluation received no batches"), pytest.warns(
            UserWarning, match="ran out of data"):
        _model(start).fit(x, y, epochs=2, validation_data=_batches(x, y), verbose=0)


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")

            def hook(*args, **kwargs):
                args = (*args, *kwargs.values())
                calls.append((name, *[a if not isinstance(a, dict) else sorted(a)
                                      for a in args if a is not None and a != {}]))
            return hook
        return object.__getattribute__(self, name)


def test_hooks_of_evaluate_predict_and_validation_in_keras_order(data, start):
    x, y, _ = data
    model = _model(start)
    rec = Recorder()
    model.evaluate(x[:10], y[:10], batch_size=5, callbacks=[rec], verbose=0)
    logs = ["loss", "mae"]
    assert rec.calls == [("on_test_begin",), ("on_test_batch_begin", 0),
                         ("on_test_batch_end", 0, logs), ("on_test_batch_begin", 1),
                         ("on_test_batch_end", 1, logs), ("on_test_end", logs)]
    rec.calls.clear()
    model.predict(x[:10], batch_size=5, callbacks=[rec], verbose=0)
    assert rec.calls == [("on_predict_begin",), ("on_predict_batch_begin", 0),
                         ("on_predict_batch_end", 0, ["outputs"]),
                         ("on_predict_batch_begin", 1),
                         ("on_predict_batch_end", 1, ["outputs"]), ("on_predict_end",)]
    rec.calls.clear()
    model.fit(x[:10], y[:10], batch_size=10, epochs=4, validation_data=(x[:5], y[:5]),
              validation_freq=2, callbacks=[rec], verbose=0)
    names = [c[0] for c in rec.calls]
    assert names.count("on_test_begin") == 2  # epochs 2 and 4 only
    epoch_end = [c for c in rec.calls if c[0] == "on_epoch_end"]
    assert [len(c[2]) for c in epoch_end] == [2, 4, 2, 4]  # val_loss, val_mae when validated
    i = names.index("on_test_begin")
    assert names[i - 2:i + 4] == ["on_train_batch_begin", "on_train_batch_end",
                                  "on_test_begin", "on_test_batch_begin",
                                  "on_test_batch_end", "on_test_end"]
    assert names[-1] == "on_train_end"


def test_finalize_variable_values_before_on_train_end_and_loss_scaling(data, start):
    x, y, _ = data
    order = []

    class Scaled(optimizers.SGD):
        def apply(self, weights, grads):
            order.append(("apply", float(np.abs(grads[0]).sum())))
            return super().apply(weights, grads)

        def finalize_variable_values(self, weights):
            order.append(("finalize", len(weights)))

    class End(Callback):
        def on_train_end(self, logs=None):
            order.append(("on_train_end",))

    plain = _model(start)
    plain.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0)
    scaled = Sequential([Input((4, 2)), LSTM(3), Dense(1)])
    scaled.set_weights(start)
    scaled.compile(Scaled(0.1, loss_scale_factor=8.0), "mse")
    reference = _model(start)
    _, grads = reference.loss_and_gradients(x, y)
    scaled.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0, callbacks=[End()])
    assert [o[0] for o in order] == ["apply", "finalize", "on_train_end"]
    # Keras's scale_loss: the gradient reaching apply is 8x; apply unscales it
    assert order[0][1] == pytest.approx(8.0 * float(np.abs(grads[0]).sum()), rel=1e-6)
    for a, b in zip(scaled.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert npylstm is not None


def test_validation_generator_with_validation_steps_carries_over(data, start):
    """validation_steps=2 over an endless source of 5-sample batches: each evaluation
    takes the next two batches (Keras's cached evaluation iterator)."""
    x, y, sw = data

    def endless():
        while True:
            yield from _batches(x, y, sw, size=5)

    checked = []

    class Check(Callback):  # the weights at on_epoch_end are the ones validation used
        def on_epoch_end(self, epoch, logs=None):
            rows = slice(10 * (epoch % 2), 10 * (epoch % 2) + 10)
            expected = self.model.evaluate(x[rows], y[rows], sample_weight=sw[rows],
                                           batch_size=5, verbose=0, return_dict=True)
            checked.append(logs["val_loss"] == pytest.approx(expected["loss"], rel=1e-6)
                           and logs["val_mae"] == pytest.approx(expected["mae"], rel=1e-6))

    _model(start).fit(x, y, epochs=3, batch_size=10, validation_data=endless(),
                      validation_steps=2, verbose=0, callbacks=[Check()])
    assert checked == [True, True, True]
