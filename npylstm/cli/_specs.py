"""A model's inputs and outputs as the command names them: ``--input`` / ``--output`` given
by position (``--input a.npy --input b.npy``) or by name (``--input encoder_inputs=a.npy``),
one per model input / output, read with each input's dtype (integer ids stay integers; a
CSV cell of an integer input must hold a whole number) and fitted to its shape.

A Sequential model has one unnamed input and one output; a functional model
(:class:`npylstm.models.Functional`) has ``input_names`` / ``output_names`` (its InputLayers'
and output layers' names, as Keras's), ``inputs`` / ``outputs`` with shapes and dtypes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._common import INPUT_SUFFIXES, CLIError, fit_input, fmt_shape, read_array, writable

__all__ = [
    "TensorSpec",
    "describe",
    "input_specs",
    "is_chain",
    "is_functional",
    "output_paths",
    "output_specs",
    "read_inputs",
]


class TensorSpec(NamedTuple):
    """One model input or output: its name (None for a Sequential's), shape with the batch
    axis, and dtype.

    >>> spec = TensorSpec("ids", (None, 6), np.dtype("int32"))
    >>> spec.label(), spec.integer
    ("'ids' (None, 6) int32", True)
    """

    name: str | None
    shape: tuple
    dtype: np.dtype

    @property
    def integer(self) -> bool:
        return bool(np.issubdtype(self.dtype, np.integer))

    def label(self) -> str:
        head = f"'{self.name}' " if self.name is not None else ""
        return f"{head}{fmt_shape(self.shape)} {self.dtype.name}"


def is_functional(model) -> bool:
    from ..models.functional import Functional

    return isinstance(model, Functional)


def is_chain(model) -> bool:
    """Whether a functional model is a plain stack: one input, one output, each layer called
    once on the previous call's one output (what a Sequential holds)."""
    if not is_functional(model):
        return True
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    previous = model.inputs[0]
    for node in model._nodes:
        if node.is_input:
            continue
        tensors = node.input_tensors
        owned = [n for n in node.layer.__dict__.get("_inbound_nodes", []) if model._owns(n)]
        if (len(owned) != 1 or node.kwargs or len(node.args) != 1
                or len(tensors) != 1 or tensors[0] is not previous):
            return False
        previous = node.outputs[0]
    return previous is model.outputs[0]


def input_specs(model) -> list[TensorSpec]:
    if is_functional(model):
        return [TensorSpec(name, tuple(t.shape), np.dtype(t.dtype))
                for name, t in zip(model.input_names, model.inputs, strict=True)]
    return [TensorSpec(None, tuple(model.input_shape), np.dtype(model._input_dtype()))]


def output_specs(model) -> list[TensorSpec]:
    if is_functional(model):
        return [TensorSpec(name, tuple(t.shape), np.dtype(t.dtype))
                for name, t in zip(model.output_names, model.outputs, strict=True)]
    return [TensorSpec(None, tuple(model.output_shape), np.dtype(model._dtype()))]


def describe(specs: list[TensorSpec], what: str) -> str:
    """``the model's 2 inputs: 'ids' (None, 6) int32, 'series' (None, 6, 3) float32``."""
    plural = what if len(specs) == 1 else f"{what}s"
    return f"the model's {len(specs)} {plural}: " + ", ".join(s.label() for s in specs)


def _assign(values: list[str], specs: list[TensorSpec], option: str, what: str,
            exists) -> list[str]:
    """One value per spec, from ``option`` values given by position or as ``name=value``."""
    names = [s.name for s in specs]
    named: dict[str, str] = {}
    positional: list[str] = []
    for value in values:
        prefix, sep, rest = value.partition("=")
        if sep and prefix in names:
            if names.count(prefix) > 1:
                raise CLIError(f"{option} '{value}': the name '{prefix}' is shared by "
                               f"{names.count(prefix)} {what}s; give them by position "
                               f"({describe(specs, what)})")
            if prefix in named:
                raise CLIError(f"{option} {prefix}=...: given twice")
            named[prefix] = rest
        elif sep and not exists(value) and prefix and "/" not in prefix:
            known = [n for n in names if n is not None]
            raise CLIError(
                f"{option} '{value}': no model {what} is named '{prefix}'; "
                + (describe(specs, what) if known else
                   f"a Sequential model's {what} has no name: give the file by position")
            )
        else:
            positional.append(value)
    if named and positional:
        raise CLIError(f"{option}: give every {what} by position or every one by name "
                       f"(name=file), not both ({describe(specs, what)})")
    if named:
        missing = [n for n in names if n not in named]
        if missing:
            raise CLIError(f"{option}: no file for the {what}(s) {missing}; expected one "
                           f"{option} per model {what} ({describe(specs, what)})")
        return [named[n] for n in names]
    if len(positional) != len(specs):
        raise CLIError(
            f"expected {len(specs)} {option} (one per model {what}; {describe(specs, what)}), "
            f"received {len(positional)}"
        )
    return positional


def _source(option: str, path: str, spec: TensorSpec, several: bool) -> str:
    return f"{option} '{path}'" + (f" (input '{spec.name}')" if several else "")


def _as_integers(x: np.ndarray, spec: TensorSpec, source: str) -> np.ndarray:
    """``x`` as the input's integer dtype: whole numbers only, within the dtype's range."""
    if not np.issubdtype(x.dtype, np.integer) and x.dtype != bool:
        whole = np.isfinite(x) & (x == np.round(x))
        if not whole.all():
            index = tuple(int(i) for i in np.argwhere(~whole)[0])
            raise CLIError(
                f"{source}: the input '{spec.name or 'input'}' holds integer ids "
                f"({spec.dtype.name}), found {float(x[index]):g} at index {index}"
            )
    info = np.iinfo(spec.dtype)
    if x.size and (x.min() < info.min or x.max() > info.max):
        raise CLIError(f"{source}: values outside the range of {spec.dtype.name} "
                       f"[{info.min}, {info.max}]")
    return np.ascontiguousarray(x, dtype=spec.dtype)


def read_inputs(model, values: list[str], option: str = "--input") -> list[np.ndarray]:
    """One array per model input from the ``--input`` values, each of its input's shape and
    dtype (float inputs: the model's float dtype; integer inputs: their integer dtype)."""
    specs = input_specs(model)
    paths = _assign(list(values), specs, option, "input", lambda v: Path(v).exists())
    several = len(specs) > 1 or is_functional(model)
    arrays = []
    for spec, path in zip(specs, paths, strict=True):
        source = _source(option, path, spec, several)
        x = read_array(path, option, integer=spec.integer, source=source)
        x = fit_input(x, model, source, expected=spec.shape)
        if spec.integer:
            x = _as_integers(x, spec, source)
        else:
            x = np.ascontiguousarray(x, dtype=spec.dtype if np.issubdtype(
                spec.dtype, np.floating) else model._dtype())
        arrays.append(x)
    sizes = [len(x) for x in arrays]
    if len(set(sizes)) > 1:
        raise CLIError(f"every {option} needs the same number of samples, received "
                       + ", ".join(f"{n} in '{p}'" for n, p in zip(sizes, paths, strict=True)))
    return arrays


def output_paths(model, values: list[str], option: str = "--output") -> list[Path]:
    """One writable ``.npy`` / ``.csv`` path per model output, checked before anything runs."""
    specs = output_specs(model)
    paths = [writable(p) for p in _assign(list(values), specs, option, "output",
                                          lambda v: False)]
    for path in paths:
        if path.suffix.lower() not in INPUT_SUFFIXES:
            raise CLIError(f"{option} '{path}': expected a .npy or .csv file name")
    resolved = [p.resolve() for p in paths]
    for path, r in zip(paths, resolved, strict=True):
        if resolved.count(r) > 1:
            raise CLIError(f"{option} '{path}' is given for {resolved.count(r)} outputs; "
                           "each output needs its own file")
    return paths
