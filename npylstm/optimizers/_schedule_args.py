"""Argument checks of the learning-rate schedules (:mod:`npylstm.optimizers.schedules`):
Keras's own messages where Keras checks (``decay_steps > 0``), a clear error naming the
schedule, the argument and the value received elsewhere."""

from __future__ import annotations

import math
import numbers

import numpy as np


def _number(owner: str, name: str, value, low=None, low_inclusive=True, optional=False):
    """``value`` unchanged if it is a finite real number (not a bool) above ``low``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{owner}: expected {name} to be a number, received {value!r} of type "
            f"{type(value).__name__}"
        )
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    if not math.isfinite(value) or too_low:
        bound = "" if low is None else f" {'>=' if low_inclusive else '>'} {low}"
        raise ValueError(
            f"{owner}: expected {name} to be a finite number{bound}, received {name}={value!r}"
        )
    return value


def _steps(owner: str, name: str, value):
    """Keras's check on ``decay_steps`` / ``first_decay_steps`` (and a finite number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{owner}: expected {name} to be a number, received {value!r} of type "
            f"{type(value).__name__}"
        )
    if not value > 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: expected {name} to be finite, received {name}={value}")
    return value


def _flag(owner: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: expected {name} to be True or False, received {value!r}")
    return bool(value)


def _name(owner: str, value):
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{owner}: expected name to be a string, received {value!r}")
    return value


def _step(owner: str, step):
    """The step as Keras casts it: an int stays an int (for the boundary comparisons)."""
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (numbers.Real, np.ndarray)):
        raise TypeError(
            f"{owner}: expected the step to be a number, received {step!r} of type "
            f"{type(step).__name__}"
        )
    if isinstance(step, np.ndarray):
        if step.shape != () or not np.issubdtype(step.dtype, np.number):
            raise TypeError(f"{owner}: expected a scalar step, received an array {step!r}")
        step = step.item()
    if not math.isfinite(step) or step < 0:
        raise ValueError(
            f"{owner}: expected the step to be a finite number >= 0, received step={step!r}"
        )
    return step
