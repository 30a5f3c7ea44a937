"""npylstm.datasets: the seeds' damped sine data and random-walk windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from npylstm import datasets


def test_damped_sine_reproduces_the_seed_page():
    # Seed 004's code: np.random.seed(1234); periods = randint(10, 20, 5);
    # decays = uniform(0.01, 0.1, 5); each pattern repeated 200 times (in blocks);
    # value i = 0.5 + 0.5 * sin(2*pi*i/period) * exp(-decay*i); 50 steps in, 5 out.
    x, y = datasets.damped_sine()
    assert x.shape == (1000, 50, 1) and y.shape == (1000, 5)
    assert x.dtype == y.dtype == np.float32
    rs = np.random.RandomState(1234)  # noqa: NPY002 - the seed page's generator
    periods = rs.randint(10, 20, 5)
    decays = rs.uniform(0.01, 0.1, 5)
    for k, (period, decay) in enumerate(zip(periods, decays, strict=True)):
        row = 200 * k + 17  # any row of block k
        expected = [0.5 + 0.5 * math.sin(2 * math.pi * i / period) * math.exp(-decay * i)
                    for i in range(55)]
        np.testing.assert_allclose(x[row, :, 0], expected[:50], rtol=1e-6)
        np.testing.assert_allclose(y[row], expected[50:], rtol=1e-6)
        np.testing.assert_array_equal(x[200 * k], x[200 * k + 199])  # a block repeats


def test_damped_sine_options_and_seed():
    x, y = datasets.damped_sine(n_samples=20, n_patterns=4, n_steps=10, n_output=3, seed=5)
    assert x.shape == (20, 10, 1) and y.shape == (20, 3)
    x2, _ = datasets.damped_sine(n_samples=20, n_patterns=4, n_steps=10, n_output=3, seed=5)
    np.testing.assert_array_equal(x, x2)
    x3, _ = datasets.damped_sine(n_samples=20, n_patterns=4, n_steps=10, n_output=3, seed=6)
    assert not np.array_equal(x, x3)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_damped_sine_bad_arguments():
    with pytest.raises(ValueError, match=r"damped_sine: expected n_samples to be a multiple "
                                         r"of n_patterns=5, received 12"):
        datasets.damped_sine(n_samples=12)
    with pytest.raises(ValueError, match=r"damped_sine: expected n_steps >= 1, received 0"):
        datasets.damped_sine(n_steps=0)


def test_random_walk_windows_shapes_scaling_and_targets():
    x, y = datasets.random_walk_windows(n_points=200, window=60, seed=3)
    assert x.shape == (140, 60, 1) and y.shape == (140, 1) and x.dtype == np.float32
    # every window's target is the next value of the series: the first value of the next
    # window's last step
    np.testing.assert_array_equal(y[:-1, 0], x[1:, -1, 0])
    np.testing.assert_array_equal(x[1:, :-1, 0], x[:-1, 1:, 0])  # windows slide by one
    series = np.concatenate([x[0, :, 0], y[:, 0]])
    assert series.min() == 0.0 and series.max() == 1.0  # min-max scaled
    again, _ = datasets.random_walk_windows(n_points=200, window=60, seed=3)
    np.testing.assert_array_equal(x, again)
    raw, _ = datasets.random_walk_windows(n_points=200, window=60, seed=3, scale=False)
    assert raw[0, 0, 0] == 100.0  # the walk starts at `start`


def test_random_walk_windows_bad_arguments():
    with pytest.raises(ValueError, match=r"expected n_points > window=60, received 60"):
        datasets.random_walk_windows(n_points=60)
    with pytest.raises(ValueError, match=r"expected window >= 1, received 0"):
        datasets.random_walk_windows(window=0)
