"""Models: the :class:`Model` base and :class:`Sequential`, with training and the summary
in modules any model kind reuses.

``model.py``
    :class:`Model`, the base: name, layers, weights, data coercion, the whole-model
    gradient, the file facades, and the graph hooks a model kind implements
``sequential.py``
    :class:`Sequential`, a chain of layers on that base
``functional.py``
    :class:`Functional` (``Model(inputs, outputs)``), a graph of layer calls
``training.py``
    compile / fit / evaluate / predict / ``*_on_batch`` (the ``Trainer`` mixin)
``summary.py``
    ``model.summary()``'s table

``npylstm.model`` (the module's old home) is this same module object, so
``from npylstm.model import Sequential`` and ``npylstm.model.BLAS_THREADS`` keep working.

>>> from npylstm import models
>>> models.Sequential.__mro__[1] is models.Model
True
"""

from __future__ import annotations

from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["BLAS_THREADS", "Functional", "Model", "Sequential"]

# BLAS threads inside fit/evaluate/predict/*_on_batch/loss_and_gradients; None leaves BLAS
# as configured (the default). The Numba core already runs small LSTM layers in its own
# threads with no multi-threaded BLAS inside them, and large layers want BLAS's threads for
# their per-timestep products; set 1 to keep every NumPy product single-threaded (e.g. when
# several processes share the cores).
#
# This is the one place the setting lives: ``npylstm.models.BLAS_THREADS`` (and
# ``npylstm.model.BLAS_THREADS``, the same module); the methods read it at each call
# (``training._limit_blas_threads``).
BLAS_THREADS: int | None = None
