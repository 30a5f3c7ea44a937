"""What a Keras file holds, as plain data (:class:`ModelFile`), the error every reader and
writer raises (:class:`KerasFileError`), and the version facts the formats depend on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "KERAS2_FORMAT_VERSION",
    "KERAS2_HARD_SIGMOID",
    "KERAS_FORMAT_VERSION",
    "ConfigFileError",
    "ConfigRequiredError",
    "KerasFileError",
    "ModelFile",
    "OptimizerState",
    "keras_major_version",
]

#: npylstm's name for Keras 2's ``hard_sigmoid`` (``clip(0.2 x + 0.5, 0, 1)``).
KERAS2_HARD_SIGMOID = "hard_sigmoid_keras2"

#: The Keras release whose file layout the writers follow (and were checked against).
KERAS_FORMAT_VERSION = "3.15.1"
#: What a legacy file with Keras 2 semantics says it was written by (tf_keras's layout).
KERAS2_FORMAT_VERSION = "2.21.0"


class KerasFileError(ValueError):
    """A file is not a Keras file, is damaged, unsafe, or does not match the model."""


@dataclass
class OptimizerState:
    """An optimizer's variables as a file stores them (Keras 3's ``optimizer/vars/<i>`` of
    ``model.weights.h5``, or a legacy file's ``optimizer_weights``).

    Attributes
    ----------
    name : str
        The optimizer's name (the ``name`` attribute of the ``vars`` group: ``"adam"``).
    variables : list of np.ndarray
        Keras's ``optimizer.variables`` in order: the ``iteration`` counter (0-d integer),
        the ``learning_rate`` (0-d float32, absent under a schedule), then the slots
        (per model variable, interleaved: Adam's momentum and velocity of the first
        weight, then of the second, ...).
    names : list of str
        The variables' names where the file gives them (legacy ``weight_names``:
        ``"adam/iteration"``), else ``"vars/<i>"``; for messages.

    >>> import numpy as np
    >>> state = OptimizerState("sgd", [np.array(3, "int32"), np.array(0.01, "float32")])
    >>> state.names, int(state.variables[0])
    (['vars/0', 'vars/1'], 3)
    """

    name: str
    variables: list[np.ndarray]
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.names:
            self.names = [f"vars/{i}" for i in range(len(self.variables))]


@dataclass
class ModelFile:
    """What a Keras file holds, as plain Python data.

    Attributes
    ----------
    config : dict or None
        ``{"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}`` in
        Keras 3's form (InputLayer first when the file declares the input shape); None for
        a weights-only file.
    layer_weights : list of list of np.ndarray
        One list per layer that is not an InputLayer, in order, each in ``get_weights()``
        order (``[kernel (D, 4U), recurrent_kernel (U, 4U), bias (4U,)]`` for an LSTM).
    keras_version : str
        The Keras version that wrote the file (``"1"`` when a legacy file does not say).
    format : str
        ``"keras"``, ``"weights.h5"``, ``"legacy_h5"`` or ``"legacy_weights_h5"``.
    layer_names : list of str
        The layer names the weights were stored under (legacy files), else the group names.
    compile_config : dict or None
        How the model was compiled (``compile_config`` of a ``.keras`` file, the
        ``training_config`` attribute of a legacy file), or None.
    optimizer : OptimizerState or None
        The optimizer's variables, when the file stores them (a compiled model's
        ``.keras`` / ``.weights.h5``, a legacy model's ``optimizer_weights``); None when it
        has none.
    """

    config: dict | None
    layer_weights: list[list[np.ndarray]]
    keras_version: str
    format: str
    layer_names: list[str] = field(default_factory=list)
    compile_config: dict | None = None
    optimizer: OptimizerState | None = None


def keras_major_version(version: str | None) -> int:
    """The major version of a ``keras_version`` string (``"2.21.0" -> 2``; missing -> 1).

    >>> keras_major_version("2.21.0"), keras_major_version("3.15.1"), keras_major_version(None)
    (2, 3, 1)
    """
    match = re.match(r"\s*(\d+)", str(version or "1"))
    return int(match.group(1)) if match else 1


class ConfigRequiredError(KerasFileError):
    """A file holds weights only, and the layers they belong to were not given.

    ``reason``: ``"weights_only"`` (a Keras weights file), ``"state_dict"`` (a PyTorch
    state dict) or ``"state_dict_partial"`` (a state dict fills only the LSTM layers, the
    config given has no weights for the others, named in ``missing``).
    """

    def __init__(self, path, reason: str, message: str, missing: list[str] | None = None):
        super().__init__(message)
        self.path = path
        self.reason = reason
        self.missing = list(missing or [])


class ConfigFileError(KerasFileError):
    """A model config file that cannot give a model: ``f"config '{path}'{detail}"``."""

    def __init__(self, path, detail: str):
        super().__init__(f"config '{path}'{detail}")
        self.path = path
        self.detail = detail


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s*\n\s*", " ", str(exc) or type(exc).__name__).strip()
