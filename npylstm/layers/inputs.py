"""The API boundary: what npylstm accepts from a user as an array (a layer's or a model's
input, targets, sample weights, weights) and as a layer or model name.

Pure functions over values, with a ``label`` (``"Dense 'dense'"``) for their messages: the
layers (:meth:`npylstm.layers.base.Layer._as_float_array`, ``Weight.assign``,
``Layer.set_weights``), the models (``Model._as_array``: fit / evaluate / predict /
``*_on_batch`` data) and the CLI's ``predict`` reach user data through them.

Arrays
    Real numbers only: floats, integers and bools (NumPy kinds ``f``, ``i``, ``u``, ``b``),
    converted to the layer's float dtype as Keras 3 converts them (``ops.convert_to_tensor``
    then a cast to the layer's compute dtype, ``keras/src/layers/layer.py``). Refused with an
    :class:`InputDTypeError` (a ``TypeError``) naming the layer or model, what was expected
    and the dtype and shape received: complex numbers, strings and bytes, Python objects,
    datetimes and time spans, structured (record) arrays. A nested list whose rows differ in
    length is a ``ValueError``.

    Keras 3.15.1 (JAX backend) is looser in two places, and npylstm is stricter on purpose
    (issue #13 asks for refusal, not silent loss): ``keras.Model.predict`` on a complex array
    casts it to float32 with NumPy's ``ComplexWarning``, dropping the imaginary part, and a
    Keras layer called directly on an array of digit strings parses them as numbers
    (``Dense(2)(np.array([["1", "2"]]))`` computes). Keras refuses strings, objects,
    datetimes and structured arrays in ``predict`` too (``ValueError: Invalid dtype``).
    A cast never copies an array that already has the wanted dtype.

Names
    :func:`check_name` is Keras's rule (``keras/src/ops/operation.py``,
    ``Operation.__init__``, the same in Keras 3.15.1 and the mirror's HEAD): a name is a
    string without ``/``, else ``ValueError`` with Keras's message. npylstm also refuses what
    no file can hold back: the NUL character (Keras accepts it, then cannot save: h5py's
    "VLEN strings do not support embedded NULLs"), and ``""``, ``"."``, ``".."`` (HDF5 path
    components: a legacy ``.h5`` file cannot hold a group of that name, or its reader
    refuses it as path traversal). Everything else round-trips through every format:
    spaces, dots, backslashes, any unicode.

>>> import numpy as np
>>> as_float_array([[1, 2]], np.float32, "Dense 'd'").dtype
dtype('float32')
>>> as_float_array(np.array([[1 + 2j]]), np.float32, "Dense 'd'")
Traceback (most recent call last):
...
npylstm.layers.inputs.InputDTypeError: Dense 'd': expected a numeric array input, received \
dtype complex128, shape (1, 1): complex numbers are refused, not cast (the imaginary part \
would be dropped); pass x.real to keep the real part
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "InputDTypeError",
    "NUMERIC_KINDS",
    "as_float_array",
    "as_numeric_array",
    "check_input_shape",
    "check_name",
    "check_output_size",
    "check_weight_arrays",
    "refusal_reason",
]

#: NumPy dtype kinds accepted as numbers: floats, signed and unsigned integers, bools.
NUMERIC_KINDS = "fiub"

#: Why each refused dtype kind is refused (the end of the message).
_REASONS = {
    "c": "complex numbers are refused, not cast (the imaginary part would be dropped); "
         "pass x.real to keep the real part",
    "U": "text is refused, not parsed as numbers; convert it first, e.g. "
         "np.asarray(x, dtype='float32')",
    "S": "bytes are refused, not parsed as numbers; convert them first, e.g. "
         "np.asarray(x, dtype='float32')",
    "O": "an object array (Python objects, None, or values of mixed types) is refused; "
         "pass an array of numbers",
    "M": "dates are refused; convert them to numbers first (e.g. x.astype('int64'))",
    "m": "time spans are refused; convert them to numbers first (e.g. x.astype('int64'))",
    "V": "a structured (record) array is refused; pass one field (x['name']) or "
         "numpy.lib.recfunctions.structured_to_unstructured(x)",
}


class InputDTypeError(TypeError, ValueError):
    """An array of a kind npylstm does not compute with (complex, text, objects, dates,
    records). A ``TypeError``; also a ``ValueError``, which the layers raised for
    non-numeric input before, so code catching either keeps working.

    >>> issubclass(InputDTypeError, TypeError) and issubclass(InputDTypeError, ValueError)
    True
    """


def refusal_reason(dtype) -> str | None:
    """Why an array of ``dtype`` is refused, or None for a numeric dtype.

    >>> refusal_reason(np.dtype("int8")) is None
    True
    >>> refusal_reason(np.dtype("<U3"))[:16]
    'text is refused,'
    """
    dtype = np.dtype(dtype)
    if dtype.kind in NUMERIC_KINDS:
        return None
    return _REASONS.get(dtype.kind, f"dtype kind {dtype.kind!r} is not a number")


def _received(x, array: np.ndarray) -> str:
    if isinstance(x, np.ndarray):
        return f"dtype {array.dtype}, shape {array.shape}"
    return f"{type(x).__name__} (dtype {array.dtype}, shape {array.shape})"


def as_numeric_array(x, label: str, expected: str = "a numeric array input") -> np.ndarray:
    """``x`` as an ndarray of a numeric kind (:data:`NUMERIC_KINDS`), its dtype unchanged.

    Raises :class:`InputDTypeError` for any other kind and ``ValueError`` for what NumPy
    cannot make an array of (a ragged nested list), each naming ``label``, ``expected`` and
    what was received.

    >>> as_numeric_array([True, False], "Dense 'd'").dtype
    dtype('bool')
    >>> as_numeric_array([[1, 2], [3]], "Dense 'd'")
    Traceback (most recent call last):
    ...
    ValueError: Dense 'd': expected a numeric array input, received a list whose nested \
rows differ in length (not an array: pad the sequences to one length first, e.g. with \
keras.utils.pad_sequences)
    """
    try:
        array = np.asarray(x)
    except ValueError as exc:
        if "inhomogeneous" in str(exc) or "sequence" in str(exc):
            raise ValueError(
                f"{label}: expected {expected}, received a {type(x).__name__} whose nested "
                "rows differ in length (not an array: pad the sequences to one length first, "
                "e.g. with keras.utils.pad_sequences)") from None
        raise ValueError(f"{label}: expected {expected}, received {type(x).__name__} that "
                         f"could not be converted to an array ({exc})") from None
    except TypeError as exc:
        raise InputDTypeError(f"{label}: expected {expected}, received {type(x).__name__} "
                              f"that could not be converted to an array ({exc})") from None
    if array.dtype.kind not in NUMERIC_KINDS:
        raise InputDTypeError(f"{label}: expected {expected}, received {_received(x, array)}: "
                              f"{refusal_reason(array.dtype)}")
    return array


def as_float_array(x, dtype, label: str, expected: str = "a numeric array input") -> np.ndarray:
    """``x`` as an array of the float ``dtype`` (a layer's): floats, integers and bools are
    cast as Keras casts them; an array already of ``dtype`` is returned as it is (no copy);
    any other kind refused as :func:`as_numeric_array` says.

    >>> x = np.zeros((2, 3), np.float32)
    >>> as_float_array(x, np.float32, "Dense 'd'") is x
    True
    """
    if type(x) is np.ndarray:
        if x.dtype == dtype:
            return x  # the fast path: every call between layers
        if x.dtype.kind in NUMERIC_KINDS:
            return x.astype(dtype)
    return as_numeric_array(x, label, expected).astype(dtype, copy=False)


def check_weight_arrays(weights, values, label: str) -> list[np.ndarray]:
    """``values`` (one per :class:`~npylstm.layers.base.Weight` in ``weights``, in order) as
    numeric arrays of the weights' shapes, or an error naming ``label``, the weight and what
    was received, before anything is assigned. NaN and ±inf are accepted (Keras's
    ``Variable.assign`` does not look at values).

    >>> from npylstm.layers.base import Weight
    >>> w = Weight("kernel", np.zeros((2, 1), np.float32))
    >>> check_weight_arrays([w], [np.ones((2, 2))], "Dense 'd'")
    Traceback (most recent call last):
    ...
    ValueError: Dense 'd': set_weights: 'kernel' expected shape (2, 1), received (2, 2)
    """
    values = list(values)
    if len(values) != len(weights):
        raise ValueError(f"{label}: set_weights expected {len(weights)} arrays "
                         f"{[w.name for w in weights]}, received {len(values)}")
    arrays = [as_numeric_array(v, label, f"numeric weights ('{w.name}')")
              for w, v in zip(weights, values, strict=True)]
    for weight, array in zip(weights, arrays, strict=True):
        if array.shape != weight.shape:
            raise ValueError(f"{label}: set_weights: '{weight.name}' expected shape "
                             f"{weight.shape}, received {array.shape}")
    return arrays


def _axis_name(axis: int, rank: int) -> str:
    if rank == 3 and axis in (1, 2):
        return ("timesteps", "features")[axis - 1]
    return "features" if rank == 2 and axis == 1 else f"axis {axis}"


def check_input_shape(array: np.ndarray, expected: tuple, label: str, what: str) -> None:
    """Refuse ``array`` unless its rank and every fixed dimension (not None) of ``expected``
    (a model input's shape, batch axis included) match: a ``ValueError`` naming ``label``,
    the input ``what``, both shapes and what differs, before anything is computed.

    >>> check_input_shape(np.zeros((5, 4, 3)), (None, 4, 2), "Sequential 'm'", "x")
    Traceback (most recent call last):
    ...
    ValueError: Sequential 'm': x has shape (5, 4, 3), the model expects (None, 4, 2): \
3 features where the model reads 2
    """
    expected = tuple(expected)
    shape = tuple(array.shape)
    if len(expected) != len(shape):
        detail = (f"{len(shape)} axes where the model reads {len(expected)} (the batch axis "
                  "included)")
    else:
        wrong = [i for i, (e, d) in enumerate(zip(expected, shape, strict=True))
                 if i and e is not None and e != d]
        if not wrong:
            return
        detail = "; ".join(f"{shape[i]} {_axis_name(i, len(shape))} where the model reads "
                           f"{expected[i]}" for i in wrong)
    shown = "(" + ", ".join(str(d) for d in expected) + (",)" if len(expected) == 1 else ")")
    raise ValueError(f"{label}: {what} has shape {shape}, the model expects {shown}: {detail}")


#: Names an HDF5 path cannot hold as one component (a legacy .h5 group per layer).
_PATH_NAMES = ("", ".", "..")


def check_name(name, kind: str) -> str:
    """``name`` when Keras and every file format accept it, else a ``ValueError``.

    ``kind``: the class in the message (``"Dense"``). Keras's own rule and message come
    first (a string, without ``/``); then npylstm's: no NUL character, not ``""``, ``"."``
    or ``".."``.

    >>> check_name("ünï cödé.v2", "Dense")
    'ünï cödé.v2'
    >>> check_name("a/b", "Dense")
    Traceback (most recent call last):
    ...
    ValueError: Argument `name` must be a string and cannot contain character `/`. \
Received: name=a/b (of type <class 'str'>)
    """
    if not isinstance(name, str) or "/" in name:
        raise ValueError(  # Keras's message, word for word
            "Argument `name` must be a string and cannot contain character `/`. "
            f"Received: name={name} (of type {type(name)})")
    if "\x00" in name:
        raise ValueError(f"{kind}: expected a name without the NUL character, received "
                         f"{name!r}: no Keras file format can store it")
    if name in _PATH_NAMES:
        raise ValueError(f"{kind}: expected a name other than '', '.' and '..', received "
                         f"{name!r}: a legacy HDF5 (.h5) file cannot hold a layer of that name")
    return name


def check_output_size(shape: tuple, dtype, label: str, what: str) -> None:
    """Refuse to allocate an output of ``shape`` that a layer's config drives (a
    ``RepeatVector.n``, an ``UpSampling1D.size``, a padding) when it holds more values than
    ``MAX_ARRAY_ELEMENTS`` or more bytes than ``MAX_ARRAY_BYTES`` (:mod:`npylstm.io.limits`,
    its environment variables and ``raised_limits()``): a ``ValueError`` naming ``label``,
    ``what`` drives the size and the limit, instead of NumPy's ``MemoryError``. Counted
    with Python ints, so no product overflows.

    >>> check_output_size((2, 10**12, 3), np.float32, "RepeatVector 'r'", "n = 10**12")
    Traceback (most recent call last):
    ...
    ValueError: RepeatVector 'r': n = 10**12 makes an output of shape (2, 1000000000000, 3) ...
    """
    # the initializers' per-array check (the limits live with the file readers, in
    # npylstm.io.limits, which layers may not import)
    from ..initializers import _exceeded_array_limit

    dims = tuple(int(d) for d in shape)
    exceeded = _exceeded_array_limit(math.prod(dims), np.dtype(dtype).itemsize)
    if exceeded is not None:
        name, size, unit, bound = exceeded
        raise ValueError(
            f"{label}: {what} makes an output of shape {dims} ({size} {unit}), more than the "
            f"limit {name} = {bound} (set the environment variable NPYLSTM_{name} or "
            "NPYLSTM_LIMIT_SCALE, or use npylstm.io.limits.raised_limits())")
