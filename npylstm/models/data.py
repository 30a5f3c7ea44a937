"""Batches for fit / evaluate / predict, as Keras 3.15.1's data adapters and epoch iterator
(``keras/src/trainers/data_adapters/`` and ``trainers/epoch_iterator.py``).

* :class:`ArrayData`: arrays ``(x, y, sample_weight)`` sliced into batches of
  ``batch_size`` (default 32, or ``ceil(samples / steps)`` when only ``steps`` is given, as
  Keras's ``ArrayDataAdapter``), reshuffled at the start of each pass when ``shuffle``.
* :class:`IterableData`: a Python generator, any iterator or re-iterable object, or a
  ``keras.utils.PyDataset``-like object (``__getitem__`` with ``__len__`` or
  ``num_batches``), each element ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
  (Keras's ``unpack_x_y_sample_weight``). Keras itself accepts only generators and
  PyDatasets; other iterables are an npylstm extension that follows the same rules.
* :class:`EpochIterator`: Keras's stepping rule. Without ``steps_per_epoch`` an epoch is
  one pass over the data; with it, an epoch is ``steps_per_epoch`` batches drawn from an
  iterator that carries over between epochs (restarted when a pass over the arrays ends);
  data that runs out first ends the epoch with Keras's warning ("Your input ran out of
  data; interrupting training...").
* Every array (x, y, sample_weight) passes the one boundary of
  :mod:`npylstm.layers.inputs` (``Model._as_array``, :func:`prepare_sample_weight`): real
  numbers only, complex / text / objects / dates / records refused with a ``TypeError``.
* :func:`class_weight_to_sample_weights`: Keras's rule (``data_adapter_utils``): the class
  of a sample is ``argmax`` of a one-hot target, else the rounded target itself; a class
  missing from ``class_weight`` weighs 1.

>>> import numpy as np
>>> data = ArrayData(np.arange(5.0)[:, None], np.arange(5.0), None, batch_size=2)
>>> [len(x) for _, (x, y, w) in EpochIterator(data)]
[2, 2, 1]
"""

from __future__ import annotations

import itertools
import math
import types
import warnings

import numpy as np

from ..layers.inputs import as_numeric_array

__all__ = ["ArrayData", "EpochIterator", "IterableData", "class_weight_to_sample_weights",
           "class_weights", "is_iterable_data", "prepare_sample_weight",
           "unpack_x_y_sample_weight"]

OUT_OF_DATA = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or "
    "generator can generate at least `steps_per_epoch * epochs` batches. You may need to "
    "use the `.repeat()` function when building your dataset."
)
INFINITE = (
    "{owner}: {what} is infinite: when passing an infinitely repeating dataset, you must "
    "specify the `{steps}` argument, otherwise the training will run indefinitely"
)
_INFINITE_TYPES = (itertools.count, itertools.cycle, itertools.repeat)


def unpack_x_y_sample_weight(data, owner: str = "fit"):
    """Keras's ``unpack_x_y_sample_weight``: ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` as a triple (a list counts as a tuple, anything else is x).

    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) in (1, 2, 3):
        return (*data, *([None] * (3 - len(data))))
    raise ValueError(f"{owner}: expected each batch as (x,), (x, y) or (x, y, sample_weight), "
                     f"received a tuple of {len(data)} elements")


def class_weight_to_sample_weights(y, class_weight: dict, classes: int | None = None,
                                   owner: str = "fit") -> np.ndarray:
    """One float32 weight per sample from ``class_weight`` ({class id: weight}).

    ``classes``: how many classes the model's output has (2 for one sigmoid unit); a
    ``class_weight`` key outside ``range(classes)`` is a ValueError (Keras ignores it
    silently), as are targets with more than one class per sample (a sequence output:
    give ``sample_weight`` per timestep instead).

    >>> class_weight_to_sample_weights(np.array([[0, 1], [1, 0]]), {0: 2.0})
    array([1., 2.], dtype=float32)
    """
    check_class_weight(class_weight, classes, owner)
    y = np.asarray(y)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    if y.ndim != 1:
        raise ValueError(
            f"{owner}: class_weight needs one class per sample (targets (samples,), "
            f"(samples, 1) or one-hot (samples, classes)), received targets of shape "
            f"{np.shape(y)} per batch; for a sequence output pass sample_weight of shape "
            "(samples, timesteps) instead")
    ids = np.round(y).astype("int32")
    return np.array([class_weight.get(int(i), 1.0) for i in ids], dtype=np.float32)


def check_class_weight(class_weight, classes: int | None, owner: str) -> None:
    """A dict of integer class ids (inside ``range(classes)``) to numbers, or an error."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"{owner}: expected class_weight as a dict {{class id: weight}}, "
                        f"received {type(class_weight).__name__}")
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, int | np.integer):
            raise TypeError(f"{owner}: class_weight keys must be integer class ids, "
                            f"received {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise TypeError(f"{owner}: class_weight[{key}] must be a number, received "
                            f"{value!r}")
        if classes is not None and not 0 <= key < classes:
            raise ValueError(
                f"{owner}: class_weight names class {key}, which does not exist: the model's "
                f"output has {classes} classes (ids 0..{classes - 1})")


# -- sample weights of a model's outputs (``model``: a Trainer) ------------------------
def output_names(model) -> list[str] | None:
    """The output names of a model with several outputs, else None."""
    return model._output_keys if isinstance(model.output_shape, list) else None

def _weight_array(model, weight, samples: int | None, what: str) -> np.ndarray:
    array = as_numeric_array(weight, model._label(), f"{what} as numbers, one per sample")
    if array.ndim == 0:
        raise model._error(f"expected {what} with one weight per sample, received a scalar")
    if samples is not None and len(array) != samples:
        raise model._error(f"{what} has {len(array)} entries but x has {samples} samples: "
                          "give one weight per sample (or per sample and timestep)")
    return np.ascontiguousarray(array, dtype=np.float32)

def prepare_sample_weight(model, sample_weight, samples: int | None):
    """``sample_weight`` as float32 arrays: one array, or for several outputs a list
    with one entry (or None) per output; one per-sample array is used for every
    output (Keras's ``ArrayDataAdapter`` rule)."""
    if sample_weight is None:
        return None
    names = output_names(model)
    if names is None:
        if isinstance(sample_weight, dict) or (
                isinstance(sample_weight, list | tuple) and len(sample_weight) == 1
                and np.ndim(sample_weight[0]) >= 1):
            parts = (list(sample_weight.values()) if isinstance(sample_weight, dict)
                     else list(sample_weight))
            if len(parts) != 1:
                raise model._error(f"expected one sample_weight array for the model's one "
                                  f"output, received {len(parts)}")
            sample_weight = parts[0]
        return _weight_array(model, sample_weight, samples, "sample_weight")
    if isinstance(sample_weight, dict | list | tuple) and not (
            isinstance(sample_weight, list | tuple)
            and all(np.isscalar(w) for w in sample_weight)):
        if isinstance(sample_weight, dict):
            unknown = [k for k in sample_weight if k not in names]
            if unknown:
                raise model._error(f"sample_weight names unknown outputs {unknown}; the "
                                  f"outputs are {names}")
            parts = [sample_weight.get(n) for n in names]
        elif len(sample_weight) != len(names):
            raise model._error(f"expected one sample_weight per output {names}, received "
                              f"{len(sample_weight)}")
        else:
            parts = list(sample_weight)
        return [None if w is None else _weight_array(model,
            w, samples, f"sample_weight for output '{n}'") for w, n in zip(
                parts, names, strict=True)]
    weight = _weight_array(model, sample_weight, samples, "sample_weight")
    if not (weight.ndim == 1 or (weight.ndim == 2 and weight.shape[1] == 1)):
        raise model._error(
            "For a model with multiple outputs, when providing a single `sample_weight` "
            "array, it should only have one scalar score per sample (i.e. shape "
            "`(num_samples,)`). If you want to use non-scalar sample weights, pass a "
            "`sample_weight` argument with one array per model output.")
    return [weight] * len(names)

def classes(model) -> int | None:
    """How many classes a class_weight may name: the output's last axis (2 for one
    sigmoid unit); a sequence output cannot take class weights."""
    out = model.output_shape
    if len(out) > 2:
        raise model._error(
            f"class_weight needs one class per sample, but the output has shape "
            f"{tuple(out)} (a value per timestep): pass sample_weight of shape "
            "(samples, timesteps) instead")
    units = out[-1] if len(out) == 2 else 1
    return None if units is None else max(int(units), 2)

def class_weights(model, y, class_weight, sample_weight, owner: str):
    """Keras's ``class_weight`` -> ``sample_weight`` (single-output models only)."""
    if class_weight is None:
        return sample_weight
    if sample_weight is not None:
        raise model._error("You cannot `class_weight` and `sample_weight` at the same time.")
    if output_names(model) is not None:
        raise model._error("`class_weight` is only supported for Models with a single "
                          "output.")
    return class_weight_to_sample_weights(y, class_weight, classes(model),
                                                      f"{model._label()}: {owner}")


def _is_array_like(x) -> bool:
    return isinstance(x, np.ndarray | list | tuple | dict | int | float) or hasattr(
        x, "__array__") or hasattr(x, "shape")


def is_iterable_data(x) -> bool:
    """Whether ``x`` is batches (a generator, iterator, PyDataset-like or other iterable)
    rather than arrays (an ndarray, a list / tuple / dict of arrays, array-likes)."""
    if isinstance(x, (types.GeneratorType, *_INFINITE_TYPES)):
        return True
    if x is None or isinstance(x, str | bytes) or _is_array_like(x):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__") or (
        hasattr(x, "__getitem__") and (hasattr(x, "__len__") or hasattr(x, "num_batches")))


def _take(data, index):
    """The samples ``index`` of prepared data: an array, a list of arrays (or Nones), or
    None."""
    if data is None:
        return None
    if isinstance(data, list):
        return [None if d is None else d[index] for d in data]
    return data[index]


class ArrayData:
    """Arrays as batches (Keras's ``ArrayDataAdapter``); ``rng`` shuffles each pass."""

    def __init__(self, x, y, sample_weight, batch_size=None, steps=None, shuffle=False,
                 rng=None, samples: int | None = None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        n = samples if samples is not None else (len(x[0]) if isinstance(x, list) else len(x))
        if not batch_size:
            batch_size = int(math.ceil(n / steps)) if steps else 32
        self.samples, self.batch_size = n, int(batch_size)
        self.num_batches = int(math.ceil(n / self.batch_size))
        self.shuffle, self.rng = shuffle, rng

    def iterator(self):
        order = self.rng.permutation(self.samples) if self.shuffle else None
        for start in range(0, self.samples, self.batch_size):
            index = (slice(start, start + self.batch_size) if order is None
                     else order[start:start + self.batch_size])
            yield _take(self.x, index), _take(self.y, index), _take(self.sample_weight, index)

    def on_epoch_begin(self) -> None: ...
    def on_epoch_end(self) -> None: ...


class IterableData:
    """Batches from an iterable (Keras's ``GeneratorDataAdapter`` / ``PyDatasetAdapter``).

    ``class_weight`` turns each ``(x, y)`` batch into ``(x, y, sample_weight)`` (Keras's
    PyDataset rule; Keras refuses it for generators, and so does :meth:`check_args`).
    """

    def __init__(self, data, owner: str = "fit", shuffle: bool = False, rng=None):
        self.data, self.owner = data, owner
        self.indexed = not hasattr(data, "__iter__") or (
            hasattr(data, "__getitem__") and (hasattr(data, "__len__")
                                              or hasattr(data, "num_batches"))
            and not isinstance(data, types.GeneratorType))
        self.one_shot = not self.indexed and iter(data) is data
        self.shuffle, self.rng = shuffle and self.indexed, rng
        self.num_batches = self._length()

    def _length(self) -> int | None:
        if not self.indexed:
            return None
        n = getattr(self.data, "num_batches", None) if not hasattr(self.data, "__len__") \
            else len(self.data)
        return None if n is None else int(n)

    @property
    def infinite(self) -> bool:
        """Known to be endless: an ``itertools.count / cycle / repeat``, or a PyDataset-like
        whose ``num_batches`` is None (Keras's mark of an infinite PyDataset)."""
        return isinstance(self.data, _INFINITE_TYPES) or (self.indexed
                                                          and self.num_batches is None)

    def iterator(self):
        if not self.indexed:
            return iter(self.data)
        if self.num_batches is None:
            indices = itertools.count()
        elif self.shuffle:
            indices = self.rng.permutation(self.num_batches)
        else:
            indices = range(self.num_batches)
        return (self.data[int(i)] for i in indices)

    def on_epoch_begin(self) -> None:
        hook = getattr(self.data, "on_epoch_begin", None) if self.indexed else None
        if callable(hook):
            hook()

    def on_epoch_end(self) -> None:
        hook = getattr(self.data, "on_epoch_end", None) if self.indexed else None
        if callable(hook):
            hook()

    def check_args(self, y, sample_weight, class_weight, shuffle, steps_name: str,
                   steps) -> None:
        """Keras's rules for batches: no separate ``y`` / ``sample_weight`` (they are part
        of each batch), ``shuffle=True`` is ignored with Keras's warning (a PyDataset-like
        of known length is shuffled batch by batch, as Keras's ``PyDatasetAdapter``),
        ``class_weight`` refused for generators, ``steps`` required when infinite."""
        kind = "PyDataset" if self.indexed else "generator"
        for name, value, what in (("y", y, "the targets"),
                                  ("sample_weight", sample_weight, "the sample weights")):
            if value is not None:
                raise ValueError(f"{self.owner}: when providing `x` as a {kind}, `{name}` "
                                 f"should not be passed. Instead, {what} should be included "
                                 f"as part of the {kind}.")
        if class_weight is not None and not self.indexed:
            raise ValueError(f"{self.owner}: argument `class_weight` is not supported for "
                             f"Python generator inputs. Received: class_weight={class_weight}")
        if shuffle and not (self.indexed and self.num_batches is not None):
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was "
                f"provided as a {'generator' if not self.indexed else 'infinite PyDataset'}. "
                "The generator is expected to yield already-shuffled data.", stacklevel=3)
        if steps is None and self.infinite:
            raise ValueError(INFINITE.format(owner=self.owner, what="x", steps=steps_name))


class EpochIterator:
    """Keras's ``EpochIterator`` (``steps_per_execution=1``): ``for step, batch in it``
    runs one epoch; ``num_batches`` is ``steps_per_epoch``, else the data's batch count
    (None for a generator until one pass has been seen)."""

    def __init__(self, data, steps_per_epoch: int | None = None):
        self.data, self.steps_per_epoch = data, steps_per_epoch
        self._num_batches = data.num_batches
        self._current = None
        self._seen = 0
        self.exhausted = False  # a one-shot iterator that has nothing left

    @property
    def num_batches(self) -> int | None:
        return self.steps_per_epoch or self._num_batches

    def __iter__(self):
        self.data.on_epoch_begin()
        steps = self.steps_per_epoch or self._num_batches
        if self._current is None or self.steps_per_epoch is None:
            self._current = self.data.iterator()
            self._seen = 0
        step = 0
        while steps is None or step < steps:
            if self._num_batches and self._seen >= self._num_batches:
                if self.steps_per_epoch:
                    warnings.warn(OUT_OF_DATA, stacklevel=2)
                break
            try:
                batch = next(self._current)
            except StopIteration:
                if self._num_batches is None:
                    self._num_batches = self._seen or None
                if self.steps_per_epoch or step == 0:
                    warnings.warn(OUT_OF_DATA, stacklevel=2)
                self.exhausted = step == 0 and getattr(self.data, "one_shot", False)
                self._current = None
                break
            self._seen += 1
            yield step, batch
            step += 1
        if self._num_batches and self._seen >= self._num_batches:
            self._current = None  # the next epoch restarts the pass (Keras's reset)
            self._seen = 0
        self.data.on_epoch_end()
