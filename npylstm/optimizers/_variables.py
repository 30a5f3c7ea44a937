"""An optimizer's variables in Keras 3.15.1's order: ``build``, ``variables``,
``variable_names``, ``load_variables`` (``keras/src/optimizers/base_optimizer.py``:
``__init__`` creates ``iteration`` and ``learning_rate``; ``build`` the EMA ``average`` and
``gradient_accumulator`` variables, then each optimizer's ``add_optimizer_variables``
calls, interleaved per model variable; Nadam adds its ``u_product`` last).

The dtypes are those of the JAX backend: ``iteration`` int32, ``learning_rate`` float32
(absent when the learning rate is a schedule or a callable), each slot its weight's dtype.

>>> import numpy as np
>>> from npylstm.optimizers import Adam
>>> opt = Adam(use_ema=True)
>>> opt.build([np.zeros((2, 3), "float32")], names=["dense/kernel"])
>>> opt.variable_names
['iteration', 'learning_rate', 'dense_kernel_average', 'dense_kernel_momentum', \
'dense_kernel_velocity']
>>> [a.shape for a in opt.variables]
[(), (), (2, 3), (2, 3), (2, 3)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["VariablesMixin"]


class VariablesMixin:
    """``build`` / ``variables`` / ``variable_names`` / ``load_variables`` for Optimizer."""

    _slots: list[dict[str, np.ndarray]] | None
    _shapes: list[tuple[tuple[int, ...], np.dtype]] | None

    def _create_slots(self, weights, names, raw_names):
        """``(slots per weight, [(Keras name, array)] in Keras's order)``: by default
        ``_slot_groups``, each created like ``add_optimizer_variables`` (Adafactor
        overrides it)."""
        slots: list[dict[str, np.ndarray]] = [{} for _ in weights]
        order: list[tuple[str, np.ndarray]] = []
        for group in self._slot_groups():
            for w, n, s in zip(weights, names, slots, strict=True):
                for slot_name, initial in group:
                    s[slot_name] = np.full_like(w, initial)
                    order.append((f"{n}_{slot_name}", s[slot_name]))
        return slots, order

    def _build_extra(self, weights) -> list[tuple[str, np.ndarray]]:
        """Variables an optimizer creates after its slots (Nadam's ``u_product``)."""
        return []

    @property
    def built(self) -> bool:
        return self._slots is not None

    def _check_weights(self, weights, where: str) -> None:
        owner = type(self).__name__
        for i, w in enumerate(weights):
            if not isinstance(w, np.ndarray) or not np.issubdtype(w.dtype, np.floating):
                raise TypeError(
                    f"{owner}.{where}: weight {i} must be a float numpy array (updated in "
                    f"place), received {type(w).__name__} {getattr(w, 'dtype', '')}"
                )

    def _check_signature(self, weights, where: str) -> None:
        signature = [(w.shape, w.dtype) for w in weights]
        if signature != self._shapes:
            raise ValueError(
                f"{type(self).__name__}.{where}: this optimizer was built for weights "
                f"{[(s, str(d)) for s, d in self._shapes]} but received "
                f"{[(s, str(d)) for s, d in signature]}; create a new optimizer for a "
                "different model"
            )

    def build(self, weights: list[np.ndarray], names: list[str] | None = None) -> None:
        """Create the slot variables for ``weights`` (Keras's ``build``; ``apply`` calls it
        on first use). A second call does nothing, as in Keras.

        Parameters
        ----------
        weights : the float arrays this optimizer will update, in ``apply`` order.
        names : optional, the weights' Keras paths (``"dense/kernel"``), for
            ``variable_names`` (Keras's ``{path with / -> _}_{slot}``); default
            ``"variable"`` (the name of an unnamed Keras variable).
        """
        if self._slots is not None:
            return
        weights = list(weights)
        self._check_weights(weights, "build")
        owner = type(self).__name__
        if names is None:
            names = ["variable"] * len(weights)
        raw_names = [str(n).split("/")[-1] for n in names]  # Keras's variable.name
        names = [str(n).replace("/", "_").replace(":", "_") for n in names]
        if len(names) != len(weights):
            raise ValueError(
                f"{owner}.build: received {len(weights)} weights but {len(names)} names"
            )
        order: list[tuple[str, np.ndarray]] = []
        self._ema = None
        if self.use_ema:
            self._ema = [np.zeros_like(w) for w in weights]
            order += [(f"{n}_average", a) for n, a in zip(names, self._ema, strict=True)]
        self._accumulators = None
        if self.gradient_accumulation_steps:
            self._accumulators = [np.zeros_like(w) for w in weights]
            order += [
                (f"{n}_gradient_accumulator", a)
                for n, a in zip(names, self._accumulators, strict=True)
            ]
        slots, slot_order = self._create_slots(weights, names, raw_names)
        order += slot_order + self._build_extra(weights)
        self._slots = slots
        self._shapes = [(w.shape, w.dtype) for w in weights]
        self._order = order

    def _scalar_variables(self) -> list[tuple[str, np.ndarray]]:
        scalars = [("iteration", np.array(self._iterations, dtype=np.int32))]
        if isinstance(self._learning_rate, np.float32):
            scalars.append(("learning_rate", np.array(self._learning_rate, dtype=np.float32)))
        return scalars

    @property
    def variables(self) -> list[np.ndarray]:
        """Keras's ``optimizer.variables`` (after ``build``): ``iteration`` (0-d int32),
        ``learning_rate`` (0-d float32, unless a schedule or callable), then the EMA,
        accumulator and slot arrays. The two scalars are copies; the others are the live
        arrays (copy them to keep a snapshot)."""
        order = getattr(self, "_order", None) if self._slots is not None else None
        return [a for _, a in self._scalar_variables() + (order or [])]

    @property
    def variable_names(self) -> list[str]:
        """Keras's ``.name`` of each of :attr:`variables` (Nadam's ``u_product`` is Keras's
        unnamed ``variable``, without the counter Keras appends)."""
        order = getattr(self, "_order", None) if self._slots is not None else None
        return [n for n, _ in self._scalar_variables() + (order or [])]

    def load_variables(self, arrays: list) -> None:
        """Set every variable from ``arrays`` (in :attr:`variables` order, e.g. Keras's
        ``optimizer.variables`` values or a file's). The count, each shape and each dtype
        kind are checked before anything is assigned."""
        owner = type(self).__name__
        if self._slots is None:
            raise ValueError(
                f"{owner}.load_variables: the optimizer is not built; call "
                "optimizer.build(weights) first (its slot shapes come from the weights)"
            )
        arrays = [np.asarray(a) for a in arrays]
        names, current = self.variable_names, self.variables
        if len(arrays) != len(current):
            raise ValueError(
                f"{owner}.load_variables: expected {len(current)} variables ({names}), "
                f"received {len(arrays)}"
            )
        for i, (name, ours, theirs) in enumerate(zip(names, current, arrays, strict=True)):
            if theirs.shape != ours.shape:
                raise ValueError(
                    f"{owner}.load_variables: variable {i} '{name}' has shape {ours.shape}, "
                    f"received shape {theirs.shape}"
                )
            kinds = "iu" if ours.dtype.kind in "iu" else "f"
            if theirs.dtype.kind not in kinds:
                raise ValueError(
                    f"{owner}.load_variables: variable {i} '{name}' has dtype {ours.dtype}, "
                    f"received dtype {theirs.dtype}"
                )
        if int(arrays[0]) < 0:
            raise ValueError(
                f"{owner}.load_variables: variable 0 'iteration' must be >= 0, received "
                f"{int(arrays[0])}"
            )
        scalars = len(self._scalar_variables())
        self._iterations = int(arrays[0])
        if scalars == 2:
            self._learning_rate = np.float32(arrays[1])
        for (_, ours), theirs in zip(self._order, arrays[scalars:], strict=True):
            ours[...] = theirs
