"""Weight initializers with Keras's definitions and names.

Each initializer is a callable ``init(shape, dtype="float32") -> np.ndarray``. Random ones
take a ``seed``: the same seed gives the same array (the random stream is NumPy's, not
Keras's, so values differ from Keras while the distributions agree). Without a seed they
draw from the package generator, which :func:`set_random_seed` resets.

>>> GlorotUniform(seed=0)((2, 8)).shape
(2, 8)
>>> get("zeros")((3,)).tolist()
[0.0, 0.0, 0.0]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomUniform",
    "RandomNormal",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "Orthogonal",
    "unit_forget_bias",
    "get",
    "set_random_seed",
]

_global_rng = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Reseed the generator used by initializers (and dropout) created without a seed."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)


def _rng(seed: int | None) -> np.random.Generator:
    return _global_rng if seed is None else np.random.default_rng(seed)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fan computation: 2-D (in, out); N-D uses the receptive field."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype)`` and ``get_config()``."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class _Seeded(Initializer):
    def __init__(self, seed: int | None = None):
        self.seed = seed

    def get_config(self):
        return {"seed": self.seed}


class RandomUniform(_Seeded):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype="float32"):
        return _rng(self.seed).uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype="float32"):
        return _rng(self.seed).normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class _VarianceScaling(_Seeded):
    """Keras VarianceScaling: variance ``scale / fan`` (uniform, or truncated normal)."""

    scale, mode, distribution = 1.0, "fan_avg", "uniform"

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = _fans(tuple(shape))
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = _rng(self.seed)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        # Keras: truncated normal at 2 stddev, stddev corrected by 0.8796...
        stddev = np.sqrt(variance) / 0.87962566103423978
        out = rng.normal(0.0, stddev, size=shape)
        bad = np.abs(out) > 2 * stddev
        while bad.any():
            out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
            bad = np.abs(out) > 2 * stddev
        return out.astype(dtype)


class GlorotUniform(_VarianceScaling):
    """Uniform in ``[-limit, limit]`` with ``limit = sqrt(6 / (fan_in + fan_out))``."""


class GlorotNormal(_VarianceScaling):
    distribution = "truncated_normal"


class HeUniform(_VarianceScaling):
    scale, mode = 2.0, "fan_in"


class HeNormal(_VarianceScaling):
    scale, mode, distribution = 2.0, "fan_in", "truncated_normal"


class LecunUniform(_VarianceScaling):
    mode = "fan_in"


class LecunNormal(_VarianceScaling):
    mode, distribution = "fan_in", "truncated_normal"


class Orthogonal(_Seeded):
    """Keras's orthogonal initializer: QR of a normal matrix, signs fixed by diag(R)."""

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a shape of rank >= 2, received {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = _rng(self.seed).normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # make the decomposition unique, as Keras does
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_uniform": RandomUniform,
    "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal,
}
_CLASS_NAMES = {cls.__name__: name for name, cls in _BY_NAME.items()}
#: Keras's short names (``keras/src/initializers/__init__.py``): Embedding's default is
#: ``"uniform"``.
_ALIASES = {"uniform": "random_uniform", "normal": "random_normal", "one": "ones",
            "zero": "zeros"}


def get(identifier) -> Initializer:
    """An initializer from a Keras name (``"glorot_uniform"``, ``"Orthogonal"``...), an
    instance, a Keras-style config dict ``{"class_name": ..., "config": {...}}``, or a number
    (a constant)."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, int | float) and not isinstance(identifier, bool):
        return Constant(identifier)
    config = {}
    if isinstance(identifier, dict):
        config = dict(identifier.get("config") or {})
        identifier = identifier.get("class_name")
    if isinstance(identifier, str):
        name = _CLASS_NAMES.get(identifier, identifier.lower())
        name = _ALIASES.get(name, name)
        if name in _BY_NAME:
            return _BY_NAME[name](**config)
    raise ValueError(
        f"Unknown initializer {identifier!r}: expected one of {', '.join(sorted(_BY_NAME))}"
        " or an Initializer instance"
    )


def unit_forget_bias(bias_initializer: Initializer, units: int, dtype="float32") -> np.ndarray:
    """Keras's LSTM bias with ``unit_forget_bias=True``: the forget block is *set* to 1.

    >>> unit_forget_bias(Zeros(), 2).tolist()
    [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    """
    return np.concatenate(
        [
            bias_initializer((units,), dtype),  # i
            np.ones((units,), dtype=dtype),  # f
            bias_initializer((2 * units,), dtype),  # c, o
        ]
    )
