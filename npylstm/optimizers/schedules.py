"""Learning-rate schedules with Keras's names, formulas and configs
(``keras/src/optimizers/schedules/learning_rate_schedule.py``).

A schedule is called with the optimizer's iteration count and returns the learning rate
for that step; an optimizer created with one evaluates it before every update, as
Keras's ``BaseOptimizer._get_current_learning_rate`` does.
"""

from __future__ import annotations

__all__ = ["LearningRateSchedule"]


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` (Keras's ``LearningRateSchedule``)."""

    def __call__(self, step):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
