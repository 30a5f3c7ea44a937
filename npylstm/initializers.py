"""Weight initializers with Keras's definitions and names.

Each initializer is a callable ``init(shape, dtype="float32") -> np.ndarray``. Random ones
take a ``seed``: the same seed gives the same array (the random stream is NumPy's, not
Keras's, so values differ from Keras while the distributions agree). Without a seed they
draw from the package generator, which :func:`set_random_seed` resets.

>>> GlorotUniform(seed=0)((2, 8)).shape
(2, 8)
>>> get("zeros")((3,)).tolist()
[0.0, 0.0, 0.0]

Sizes are checked before anything is drawn
-------------------------------------------
Every call (one hook in :class:`Initializer`: each subclass's ``__call__`` is wrapped when
the class is defined, so every subclass, a user's too, and :func:`unit_forget_bias` go
through it) first counts its shape's values with Python integers (``10**9 * 4 * 10**9``
cannot overflow) and refuses a weight of more values than ``MAX_ARRAY_ELEMENTS`` or more
bytes than ``MAX_ARRAY_BYTES`` (:mod:`npylstm.io.limits`, with their environment variables
and :func:`~npylstm.io.limits.raised_limits`): a ``ValueError`` naming the layer, the shape
and the limit, where NumPy would raise ``MemoryError`` or spend minutes in a QR.

Two contexts bound a whole build (a :class:`WeightBudget`, context- and thread-local):

* :func:`deferred` -- the file supplies the weights (``npylstm.load_model``): no random
  draw and no QR runs; each call returns ``np.zeros`` of its shape and dtype (calloc-backed:
  its pages are not touched until the file's arrays are written into it) after adding its
  values to the budget's running total, refused beyond ``budget`` values (what the file
  holds, plus a little).
* :func:`limited` -- the same total bound with the initializers run (a config alone).

>>> with deferred(10, source="'m.keras'") as spent:
...     GlorotUniform(seed=0)((2, 3)).tolist(), spent.declared
([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 6)
>>> with deferred(10, source="'m.keras'"):
...     Orthogonal()((4, 4))                     # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: 'm.keras': Orthogonal(...) declares a weight of shape (4, 4) (16 values), ...
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import numbers
import operator
import sys
import threading

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
    "WeightBudget",
    "active_budget",
    "deferred",
    "get",
    "limited",
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


# -- the size check and the budget (one hook for every initializer) ------------------------


class WeightBudget:
    """What a build under :func:`deferred` / :func:`limited` has declared so far.

    Attributes
    ----------
    budget : int or None
        The most values all the weights may declare together (None: no total bound, the
        per-array limits only).
    source : str
        What the sizes come from, first in every message (``"'m.keras'"``).
    error : type
        The exception raised (``LimitExceededError`` for a file, ``ValueError`` else).
    placeholders : bool
        True under :func:`deferred`: calls return zeros instead of running.
    holds : str
        How the messages describe ``budget`` (``"the file holds"``).
    declared : int
        Values declared so far (Python int).
    """

    def __init__(self, budget: int | None, source: str, error: type, placeholders: bool,
                 holds: str):
        if budget is not None and (isinstance(budget, bool) or not isinstance(
                budget, numbers.Integral) or budget < 0):
            raise ValueError(f"expected budget to be a non-negative integer or None, "
                             f"received {budget!r}")
        self.budget = None if budget is None else int(budget)
        self.source, self.error, self.placeholders, self.holds = (
            source, error, placeholders, holds)
        self.declared = 0

    def __repr__(self) -> str:
        return (f"WeightBudget(declared={self.declared}, budget={self.budget}, "
                f"source={self.source!r})")


_budget: contextvars.ContextVar[WeightBudget | None] = contextvars.ContextVar(
    "npylstm_weight_budget", default=None)
_local = threading.local()  # .depth: initializer calls running (a subclass calling super())


def active_budget() -> WeightBudget | None:
    """The :class:`WeightBudget` of the innermost :func:`deferred` / :func:`limited` block,
    or None."""
    return _budget.get()


@contextlib.contextmanager
def _budget_scope(budget, source, error, placeholders, holds):
    state = WeightBudget(budget, source, error, placeholders, holds)
    token = _budget.set(state)
    try:
        yield state
    finally:
        _budget.reset(token)


def deferred(budget: int | None = None, *, source: str = "the model",
             error: type = ValueError, holds: str = "the file holds"):
    """A block in which initializers return zero placeholders instead of running.

    For building a model whose weights a file supplies right after (``load_model``: the
    file's arrays are assigned over every weight, each count and shape checked first). Each
    call adds its shape's values to the running total, and refuses (``error``, naming
    ``source``, the layer and its initializer when it can tell, the shape, the total and
    ``budget``) when the total would pass ``budget``; the per-array limits hold as
    everywhere. Yields the :class:`WeightBudget`.

    >>> with deferred(100) as spent:
    ...     w = Orthogonal()((5, 5))             # no QR: zeros
    >>> float(abs(w).sum()), spent.declared
    (0.0, 25)
    """
    return _budget_scope(budget, source, error, True, holds)


def limited(budget: int | None = None, *, source: str = "the model",
            error: type = ValueError, holds: str = "the limit allows"):
    """A block in which initializers run, within a total of ``budget`` values (a config
    built without a file's weights); as :func:`deferred` otherwise.

    >>> with limited(10, holds="MAX_MODEL_ELEMENTS allows"):
    ...     Ones()((3, 4))                       # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: the model: Ones() declares ... more than the 10 MAX_MODEL_ELEMENTS allows
    """
    return _budget_scope(budget, source, error, False, holds)


def _limit(name: str) -> int:
    # The limits live with the file readers (environment variables, raised_limits());
    # imported at call time, as the io package imports this module.
    from .io.limits import limit

    return limit(name)


def _exceeded_array_limit(values: int, itemsize: int) -> tuple[str, int, str, int] | None:
    """The first per-array limit an array of ``values`` values of ``itemsize`` bytes passes,
    as ``(name, size, unit, bound)``, or None: ``MAX_ARRAY_ELEMENTS``, then
    ``MAX_ARRAY_BYTES``. The one check every initializer call and every config-sized layer
    output (:func:`npylstm.layers.inputs.check_output_size`) makes."""
    for name, size, unit in (("MAX_ARRAY_ELEMENTS", values, "values"),
                             ("MAX_ARRAY_BYTES", values * itemsize, "bytes")):
        bound = _limit(name)
        if size > bound:
            return name, size, unit, bound
    return None


def _dims(shape) -> tuple[int, ...] | None:
    """``shape`` as Python ints, or None when it is not a valid shape (the initializer's
    own code then raises NumPy's error for it)."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        return None
    return None if any(d < 0 for d in dims) else dims


def _owner(initializer) -> str:
    """``"layer 'lstm' (LSTM), its recurrent_initializer "``: the layer whose build called
    ``initializer`` (found on the stack, for the message only), or ''."""
    frame = sys._getframe(2)
    for _ in range(12):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if owner is not None and not isinstance(owner, Initializer) and \
                isinstance(getattr(owner, "name", None), str) and hasattr(owner, "add_weight"):
            attrs = [k for k, v in vars(owner).items() if v is initializer]
            its = f", its {attrs[0]}" if attrs else ""
            return f"layer '{owner.name}' ({type(owner).__name__}){its}: "
        frame = frame.f_back
    return ""


def _admit(initializer, shape, dtype) -> bool:
    """Check one call's size (and charge the active budget); True: return a placeholder."""
    if getattr(_local, "depth", 0):
        return False  # inside another initializer's call: it was checked there
    dims = _dims(shape)
    if dims is None:
        return False
    state = _budget.get()
    values = math.prod(dims)
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        itemsize = 1  # the initializer's own code names the bad dtype
    what = f"{initializer!r} declares a weight of shape {dims} ({values} values"
    source = f"{state.source}: " if state is not None else ""
    if state is not None:  # the budget first: it says what the file holds
        state.declared += values
        if state.budget is not None and state.declared > state.budget:
            raise state.error(
                f"{source}{_owner(initializer)}{what}), bringing the weights declared so "
                f"far to {state.declared} values, more than the {state.budget} {state.holds}")
    exceeded = _exceeded_array_limit(values, itemsize)
    if exceeded is not None:
        name, _, unit, bound = exceeded
        raise (state.error if state is not None else ValueError)(
            f"{source}{_owner(initializer)}{what}, {values * itemsize} bytes), more "
            f"than the limit {name} = {bound} {unit} (set the environment variable "
            f"NPYLSTM_{name}, NPYLSTM_LIMIT_SCALE, or use "
            "npylstm.io.limits.raised_limits() for a genuinely large model)")
    return state is not None and state.placeholders


@contextlib.contextmanager
def _running():
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


def _checked_call(call):
    """``call`` (a subclass's ``__call__``) behind the size check and the budget."""

    @functools.wraps(call)
    def __call__(self, shape, dtype="float32", **kwargs):
        if _admit(self, shape, dtype):
            self._check_shape(tuple(shape))  # what the initializer refuses, placeholder or not
            return np.zeros(shape, dtype=dtype)
        with _running():
            return call(self, shape, dtype, **kwargs)

    __call__._checked = True
    return __call__


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype)`` and ``get_config()``.

    Each subclass's ``__call__`` is wrapped when the class is created: the size check and
    the budget (see the module docstring) run before its code.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_checked", False):
            cls.__call__ = _checked_call(call)

    def __call__(self, shape, dtype="float32") -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_shape(self, shape: tuple) -> None:
        """Refuse a shape this initializer cannot fill (a ValueError); under
        :func:`deferred` it runs in place of ``__call__``, so a file's config is refused
        as Keras would refuse it even though no value is drawn."""

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

    def _check_shape(self, shape: tuple) -> None:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a shape of rank >= 2, received {shape}")

    def __call__(self, shape, dtype="float32"):
        shape = tuple(shape)
        self._check_shape(shape)
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

    Checked and budgeted as one ``(4 * units,)`` weight of ``bias_initializer``'s (a zero
    placeholder under :func:`deferred`).
    """
    if _admit(bias_initializer, (4 * units,), dtype):
        bias_initializer._check_shape((units,))  # what it refuses (Keras calls it on (units,))
        return np.zeros((4 * units,), dtype=dtype)
    with _running():
        return np.concatenate(
            [
                bias_initializer((units,), dtype),  # i
                np.ones((units,), dtype=dtype),  # f
                bias_initializer((2 * units,), dtype),  # c, o
            ]
        )
