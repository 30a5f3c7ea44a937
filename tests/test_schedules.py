"""Learning-rate schedules against Keras's own (``keras.optimizers.schedules``, JAX backend):
the rates over 1,200 steps (step 0, boundaries, the warmup's end, restarts) in several
configurations per class, the configs, serialize / deserialize both ways; bad input.

Keras's value is computed by Keras's code on an array of all the steps at once; for the two
schedules that branch with ``ops.cond`` (CosineDecay with warmup, CosineDecayRestarts) the
branch is taken per element (``jnp.where`` over Keras's own two branch functions: a scalar
``ops.cond`` call compiles both branches and costs ~0.3 s a step). A few scalar calls check
the unpatched path. Measured when written, ours against Keras: PiecewiseConstantDecay and
the staircase rows equal bit for bit (where Keras's rate is not subnormal: XLA flushes
those to zero); elsewhere at most 3e-7 of the
schedule's peak rate (1-2 float32 ulps of the peak: Keras's float32 ``cos`` / ``log`` /
``pow`` are XLA's, and ``1 + cos(x)`` near ``x = pi`` or ``1 - step / decay_steps`` near
the end magnify their last-bit differences relative to the small rates there).
"""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest

from npylstm.optimizers import schedules

CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9}),
    ("ExponentialDecay", {"initial_learning_rate": 0.03, "decay_steps": 5, "decay_rate": 0.5,
                          "staircase": True}),
    ("ExponentialDecay", {"initial_learning_rate": 1e-3, "decay_steps": 1000,
                          "decay_rate": 0.96}),
    ("PiecewiseConstantDecay", {"boundaries": [10, 50, 51],
                                "values": [0.1, 0.05, 0.01, 0.001]}),
    ("PiecewiseConstantDecay", {"boundaries": [2.5, 100.7], "values": [0.3, 0.2, 0.1]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 37}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 37,
                         "end_learning_rate": 0.01, "power": 0.5, "cycle": True}),
    ("PolynomialDecay", {"initial_learning_rate": 0.2, "decay_steps": 10, "power": 2.3,
                         "cycle": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.7}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3.5, "decay_rate": 0.7,
                          "staircase": True}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 77}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 77, "alpha": 0.1}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 60, "alpha": 0.05,
                     "warmup_target": 0.2, "warmup_steps": 13}),
    ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 60, "warmup_target": 0.2,
                     "warmup_steps": 0}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 7,
                             "t_mul": 1.0, "m_mul": 0.8, "alpha": 0.1}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.05, "first_decay_steps": 5,
                             "t_mul": 1.5, "m_mul": 0.9, "alpha": 0.01}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.05, "first_decay_steps": 3,
                             "t_mul": 3.0}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
STEPS = np.array([*range(1200), 10**5, 123456], dtype=np.int32)


def _peak(kwargs) -> float:
    return max(kwargs.get("initial_learning_rate", 0.0), kwargs.get("warmup_target") or 0.0,
               *kwargs.get("values", [0.0]))


@pytest.fixture(scope="module")
def keras_rates(keras):
    """Keras's rate at every step of STEPS, per case (one array call each)."""
    import jax
    import jax.numpy as jnp
    import keras.src.ops as kops

    def where_cond(pred, true_fn, false_fn):
        return jax.tree.map(lambda a, b: jnp.where(pred, a, b), true_fn(), false_fn())

    with mock.patch.object(kops, "cond", where_cond):
        return [
            np.asarray(getattr(keras.optimizers.schedules, name)(**kwargs)(jnp.asarray(STEPS)))
            for name, kwargs in CASES
        ]


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_rates_match_keras(keras_rates, case):
    name, kwargs = CASES[case]
    ours = getattr(schedules, name)(**kwargs)
    got = np.array([ours(int(t)) for t in STEPS])
    expected = keras_rates[case]
    assert got.dtype == np.float32 and expected.dtype == np.float32
    assert got[0] == expected[0]  # step 0 bit for bit
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7 * _peak(kwargs))
    if name == "PiecewiseConstantDecay" or kwargs.get("staircase"):
        normal = np.abs(expected) >= np.finfo(np.float32).tiny  # XLA flushes subnormals to 0
        np.testing.assert_array_equal(got[normal], expected[normal])


@pytest.mark.parametrize(("case", "steps"), [(12, [0, 12, 13, 14, 73, 80]),
                                             (16, [0, 4, 5, 12, 13, 500])])
def test_scalar_calls_through_ops_cond_match_keras(keras, case, steps):
    """The unpatched ``ops.cond`` path: the warmup's end and CosineDecayRestarts' restarts."""
    name, kwargs = CASES[case]
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    ours = getattr(schedules, name)(**kwargs)
    got = [ours(t) for t in steps]
    expected = [np.asarray(theirs(t)) for t in steps]
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7 * _peak(kwargs))


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
def test_configs_and_serialization_match_keras(keras, case):
    name, kwargs = CASES[case]
    ks = keras.optimizers.schedules
    theirs = getattr(ks, name)(**kwargs)
    ours = getattr(schedules, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())  # Keras's key order
    assert schedules.serialize(ours) == ks.serialize(theirs)
    # through JSON (as a file stores it), both ways
    from_keras = schedules.deserialize(json.loads(json.dumps(ks.serialize(theirs))))
    assert type(from_keras) is type(ours) and from_keras.get_config() == ours.get_config()
    to_keras = ks.deserialize(json.loads(json.dumps(schedules.serialize(ours))))
    assert to_keras.get_config() == theirs.get_config()
    assert schedules.get(schedules.serialize(ours)).get_config() == ours.get_config()
    assert schedules.get(ours) is ours


def test_keras_defaults_and_bare_form(keras):
    ks = keras.optimizers.schedules
    bare = {"class_name": "PolynomialDecay", "config": {"initial_learning_rate": 0.1,
                                                        "decay_steps": 10, "name": None}}
    ours, theirs = schedules.deserialize(dict(bare)), ks.deserialize(dict(bare))
    assert ours.get_config() == theirs.get_config()
    for name, args in [("ExponentialDecay", (0.1, 5, 0.5)), ("CosineDecay", (0.1, 5)),
                       ("CosineDecayRestarts", (0.1, 5)), ("InverseTimeDecay", (0.1, 5, 0.5)),
                       ("PolynomialDecay", (0.1, 5)),
                       ("PiecewiseConstantDecay", ([1], [0.1, 0.01]))]:
        assert getattr(schedules, name)(*args).get_config() == getattr(ks, name)(
            *args).get_config()
    keras_classes = [c for c in dir(ks) if c[0].isupper() and c != "LearningRateSchedule"]
    assert schedules.names() == sorted(keras_classes)


def test_hand_computed_values():
    # 0.1 * 0.5 ** (3 / 2) ; cosine at half way: 0.5 * (1 + cos(pi / 2)) = 0.5
    assert schedules.ExponentialDecay(0.1, 2, 0.5)(3) == np.float32(0.1) * np.float32(
        0.5) ** np.float32(1.5)
    assert schedules.CosineDecay(0.2, 10)(5) == pytest.approx(0.1, rel=1e-6)
    assert schedules.CosineDecay(0.2, 10)(99) == 0.0  # held at decay_steps: alpha * 0.2
    assert schedules.InverseTimeDecay(0.3, 1, 2.0)(1) == np.float32(0.3) / np.float32(3)
    restarts = schedules.CosineDecayRestarts(0.1, 4, t_mul=2.0, m_mul=0.5)
    # periods [0, 4), [4, 12), [12, 28): each restart at m_mul ** i of the rate
    assert [restarts(t) for t in (0, 4, 12)] == [np.float32(0.1), np.float32(0.05),
                                                 np.float32(0.025)]
    pw = schedules.PiecewiseConstantDecay([2.5], [1.0, 2.0])  # int step: boundary cast to 2
    assert (pw(2), pw(3), pw(2.7)) == (1.0, 2.0, 2.0)


def test_evaluate_refuses_a_non_finite_rate():
    growing = schedules.ExponentialDecay(0.1, 1, 10.0)  # overflows float32 at step ~40
    assert schedules.evaluate(growing, 3) == np.float32(0.1) * np.float32(1000)
    with pytest.raises(ValueError, match=r"ExponentialDecay.*inf at step 100"):
        schedules.evaluate(growing, 100)

    class Broken(schedules.LearningRateSchedule):
        def __call__(self, step):
            return float("nan") if step == 2 else 0.1

    assert schedules.evaluate(Broken(), 1) == np.float32(0.1)
    with pytest.raises(ValueError, match="nan at step 2"):
        schedules.evaluate(Broken(), 2)

    class Words(schedules.LearningRateSchedule):
        def __call__(self, step):
            return "fast"

    with pytest.raises(TypeError, match="Words returned 'fast' at step 0"):
        schedules.evaluate(Words(), 0)


def test_base_class_errors_name_the_schedule():
    class Mine(schedules.LearningRateSchedule):
        pass

    with pytest.raises(NotImplementedError, match="'Mine' must override `__call__"):
        Mine()(0)
    with pytest.raises(NotImplementedError, match="'Mine' must override `get_config"):
        Mine().get_config()
    with pytest.raises(TypeError, match="expected one of the schedules"):
        schedules.serialize(Mine())


@pytest.mark.parametrize(("factory", "error", "match"), [
    (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError,
     r"Argument `decay_steps` must be > 0. Received: decay_steps=0"),
    (lambda: schedules.PolynomialDecay(0.1, -3), ValueError, r"`decay_steps` must be > 0"),
    (lambda: schedules.CosineDecayRestarts(0.1, 0), ValueError, "`first_decay_steps` must be"),
    (lambda: schedules.CosineDecay(0.1, float("inf")), ValueError, "decay_steps to be finite"),
    (lambda: schedules.InverseTimeDecay(0.1, "10", 0.5), TypeError, "decay_steps to be a num"),
    (lambda: schedules.ExponentialDecay(float("nan"), 10, 0.5), ValueError,
     "initial_learning_rate to be a finite number >= 0"),
    (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), ValueError, "initial_learning_rate"),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.0), ValueError, "decay_rate .* > 0"),
    (lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase="yes"), TypeError,
     "staircase to be True or False"),
    (lambda: schedules.InverseTimeDecay(0.1, 10, -1.0), ValueError, "decay_rate"),
    (lambda: schedules.PolynomialDecay(0.1, 10, power=-1.0), ValueError, "power"),
    (lambda: schedules.PolynomialDecay(0.1, 10, end_learning_rate=float("inf")), ValueError,
     "end_learning_rate"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=None), TypeError, "alpha to be a number"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-1.0), ValueError, "warmup_target"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-2), ValueError, "warmup_steps"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, t_mul=0.0), ValueError, "t_mul"),
    (lambda: schedules.CosineDecayRestarts(0.1, 10, m_mul=-0.5), ValueError, "m_mul"),
    (lambda: schedules.CosineDecay(0.1, 10, name=3), TypeError, "name to be a string"),
    (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), ValueError,
     "The length of boundaries should be 1 less than the length of values"),
    (lambda: schedules.PiecewiseConstantDecay([], [0.1]), ValueError, "at least one boundary"),
    (lambda: schedules.PiecewiseConstantDecay([5, 5], [0.1, 0.2, 0.3]), ValueError,
     "strictly increasing"),
    (lambda: schedules.PiecewiseConstantDecay(5, [0.1, 0.2]), TypeError, "boundaries to be a"),
    (lambda: schedules.PiecewiseConstantDecay([5], [0.1, float("nan")]), ValueError,
     r"values\[1\]"),
])
def test_bad_arguments(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


@pytest.mark.parametrize(("step", "error", "match"), [
    (-1, ValueError, "step to be a finite number >= 0, received step=-1"),
    (float("nan"), ValueError, "step=nan"),
    (True, TypeError, "expected the step to be a number"),
    ("3", TypeError, "expected the step to be a number"),
    (np.array([1, 2]), TypeError, "expected a scalar step"),
])
def test_bad_steps(step, error, match):
    with pytest.raises(error, match=f"^ExponentialDecay: .*{match}"):
        schedules.ExponentialDecay(0.1, 10, 0.5)(step)


def test_numpy_steps_are_accepted():
    s = schedules.CosineDecay(0.1, 10)
    assert s(np.int64(5)) == s(5) == s(np.array(5)) == s(5.0)


@pytest.mark.parametrize(("config", "error", "match"), [
    ({"class_name": "Evil", "config": {}}, ValueError,
     "unknown learning-rate schedule class 'Evil'. Expected one of: CosineDecay"),
    ({"class_name": "LearningRateSchedule", "config": {}}, ValueError, "unknown"),
    ({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
      "decay_steps": 2, "decay_rate": 0.5, "bogus": 1}}, ValueError,
     r"ExponentialDecay does not take \['bogus'\]; accepted keys: initial_learning_rate"),
    ({"module": "os", "class_name": "ExponentialDecay", "config": {}}, ValueError,
     "must come from Keras's module"),
    ({"class_name": "CosineDecay", "registered_name": "my>CosineDecay", "config": {}},
     ValueError, "registered_name='my>CosineDecay'"),
    ({"class_name": "CosineDecay", "config": [1, 2]}, TypeError, "must be a dict"),
    ({"class_name": "CosineDecay", "config": {}, "extra": 1}, ValueError,
     r"unexpected keys \['extra'\]"),
    ("ExponentialDecay", TypeError, "expected a learning-rate schedule config dict"),
])
def test_bad_serialized_configs(config, error, match):
    with pytest.raises(error, match=match):
        schedules.deserialize(config)


def test_get_refuses_other_objects():
    with pytest.raises(TypeError, match="expected a LearningRateSchedule or its serialized"):
        schedules.get(0.1)


def test_optimizer_configs_with_a_schedule_both_ways(keras):
    from npylstm import optimizers

    ours = optimizers.Adam(schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=3))
    config = json.loads(json.dumps(ours.get_config()))
    theirs = keras.optimizers.Adam.from_config(config)
    assert theirs._learning_rate.get_config() == ours._learning_rate.get_config()
    keras_config = json.loads(json.dumps(keras.optimizers.Adam(
        keras.optimizers.schedules.PolynomialDecay(0.1, 5, cycle=True)).get_config()))
    back = optimizers.get({"class_name": "Adam", "config": keras_config})
    assert isinstance(back._learning_rate, schedules.PolynomialDecay)
    assert back.get_config()["learning_rate"] == keras_config["learning_rate"]


def test_training_stops_with_a_clear_error_when_a_schedule_gives_nan():
    # a user's schedule that breaks at step 3: the update that would use NaN is refused,
    # naming the schedule and the step (Keras would train on with NaN weights)
    import npylstm
    from npylstm.layers import Dense

    class Broken(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.01 if step < 3 else float("nan")

        def get_config(self):
            return {}

    model = npylstm.Sequential([npylstm.Input((2,)), Dense(1)])
    model.compile(optimizer=npylstm.optimizers.SGD(Broken()), loss="mse")
    x = np.ones((8, 2), "float32")
    with pytest.raises(ValueError, match=r"schedule .*Broken.* gave the learning rate nan at "
                                         r"step 3; expected a finite number >= 0"):
        model.fit(x, x[:, :1], batch_size=1, epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 3
