"""Built-in data for the seeds' problems: damped sine waves and random-walk windows.

Both generators take a ``seed`` and return float32 arrays shaped for an LSTM:
``x (samples, timesteps, 1)`` and ``y (samples, outputs)``.

>>> x, y = damped_sine()
>>> x.shape, y.shape
((1000, 50, 1), (1000, 5))
>>> x, y = random_walk_windows(n_points=300)
>>> x.shape, y.shape
((240, 60, 1), (240, 1))
"""

from __future__ import annotations

import numpy as np

__all__ = ["damped_sine_sequence", "damped_sine", "random_walk_windows"]


def damped_sine_sequence(length: int, period: float, decay: float) -> np.ndarray:
    """``0.5 + 0.5 * sin(2πi / period) * exp(-decay * i)`` for ``i = 0 .. length-1``.

    The damped sine of seeds 001/004 (values in [0, 1]).

    >>> damped_sine_sequence(3, 4, 0.0).round(6).tolist()
    [0.5, 1.0, 0.5]
    """
    i = np.arange(length, dtype=np.float64)  # (length,)
    return 0.5 + 0.5 * np.sin(2 * np.pi * i / period) * np.exp(-decay * i)


def damped_sine(
    n_samples: int = 1000,
    n_patterns: int = 5,
    n_steps: int = 50,
    n_output: int = 5,
    seed: int | None = 1234,
) -> tuple[np.ndarray, np.ndarray]:
    """The damped-sine-wave data set of seed 004 (and the problem of seed 001).

    ``n_patterns`` sequences are drawn, each with a period from ``randint(10, 20)`` and a
    decay from ``uniform(0.01, 0.1)``; each is repeated ``n_samples / n_patterns`` times, in
    blocks (so ``validation_split=0.2`` holds out the last pattern). ``x`` holds the first
    ``n_steps`` values, ``y`` the next ``n_output``. The draws use NumPy's legacy
    ``RandomState(seed)``, exactly as the seed's ``np.random.seed(1234)`` code, so the
    default reproduces that page's data.

    Parameters
    ----------
    n_samples : total rows, a multiple of ``n_patterns``
    n_patterns : distinct (period, decay) pairs
    n_steps, n_output : lengths of the input window and of the predicted continuation
    seed : seed of the period/decay draws (None: unseeded)

    Returns
    -------
    x : (n_samples, n_steps, 1) float32
    y : (n_samples, n_output) float32
    """
    for name, value in (("n_samples", n_samples), ("n_patterns", n_patterns),
                        ("n_steps", n_steps), ("n_output", n_output)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"damped_sine: expected {name} >= 1, received {value!r}")
    if n_samples % n_patterns:
        raise ValueError(
            f"damped_sine: expected n_samples to be a multiple of n_patterns={n_patterns}, "
            f"received {n_samples}"
        )
    rs = np.random.RandomState(seed)  # noqa: NPY002 - the seed page's legacy generator
    periods = rs.randint(10, 20, n_patterns)  # (P,)
    decays = rs.uniform(0.01, 0.1, n_patterns)  # (P,)
    rows = np.stack([
        damped_sine_sequence(n_steps + n_output, p, d) for p, d in zip(periods, decays,
                                                                       strict=True)
    ])  # (P, n_steps + n_output)
    data = np.repeat(rows, n_samples // n_patterns, axis=0)  # (N, n_steps + n_output)
    x = data[:, :n_steps, None].astype(np.float32)  # (N, n_steps, 1)
    y = data[:, n_steps:].astype(np.float32)  # (N, n_output)
    return x, y


def random_walk_windows(
    n_points: int = 1000,
    window: int = 60,
    seed: int | None = 0,
    start: float = 100.0,
    volatility: float = 0.01,
    drift: float = 0.0005,
    scale: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows over a synthetic price series (the stock model of seed 000).

    A geometric random walk ``p_t = p_{t-1} * exp(drift + volatility * N(0, 1))``,
    min-max scaled to [0, 1] (as the seed's ``MinMaxScaler``) when ``scale``; every window
    of ``window`` consecutive values predicts the next value.

    Parameters
    ----------
    n_points : length of the series
    window : timesteps per sample (60 in the seed)
    seed : seed of ``np.random.default_rng``
    start, volatility, drift : the walk's first value, step spread and mean log-return
    scale : min-max scale the series to [0, 1]

    Returns
    -------
    x : (n_points - window, window, 1) float32
    y : (n_points - window, 1) float32
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
        raise ValueError(f"random_walk_windows: expected window >= 1, received {window!r}")
    if not isinstance(n_points, int | np.integer) or n_points <= window:
        raise ValueError(
            f"random_walk_windows: expected n_points > window={window}, received {n_points!r}"
        )
    rng = np.random.default_rng(seed)
    steps = drift + volatility * rng.standard_normal(n_points - 1)  # (n_points - 1,)
    prices = start * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))  # (n_points,)
    if scale:
        prices = (prices - prices.min()) / (prices.max() - prices.min())
    # windows[i] = prices[i : i + window + 1]: the inputs and the value to predict
    windows = np.lib.stride_tricks.sliding_window_view(prices, window + 1)  # (N, window+1)
    x = windows[:, :window, None].astype(np.float32)  # (N, window, 1)
    y = windows[:, window:].astype(np.float32)  # (N, 1)
    return x, y
