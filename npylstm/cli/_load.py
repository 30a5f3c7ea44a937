"""Models from the files the command is given: every format through
:func:`npylstm.io.load_any`, its errors in the command's words (``--config``)."""

from __future__ import annotations

import os

from ._common import CLIError, existing

__all__ = ["load_any_model", "not_a_chain"]

# What to say when weights come without the layers they belong to (ConfigRequiredError.reason).
_NEEDS_CONFIG = {
    "weights_only": "'{path}' holds weights only (no model config): pass --config CONFIG, a "
    ".keras/.h5 model file or a JSON config (keras_model.to_json())",
    "state_dict": "'{path}' is a PyTorch-style state dict, which holds only the LSTM / GRU "
    "weights: pass --config MODEL (a .keras/.h5 file or a JSON config) for the layers",
    "state_dict_partial": "'{path}' holds only LSTM weights; the model's {missing} need "
    "theirs: pass --config a .keras/.h5 model file (its weights fill those layers)",
}


def load_any_model(path: str | os.PathLike, config: str | None = None):
    """An npylstm model from a Keras file, or from weights (Keras or PyTorch) plus ``config``.

    Parameters
    ----------
    path : a ``.keras``, legacy ``.h5``, ``.weights.h5``, ``.npz`` or ``.pt`` file
    config : a ``.keras``/``.h5`` model file or a JSON config; required for weights-only files

    Returns
    -------
    npylstm.Sequential
    """
    from .. import io

    path = existing(path)
    if config is not None:
        config = existing(config, "config file")
    if io.file_kind(path) in io.STATE_DICTS and config is not None:
        from .. import initializers
        from ..io.limits import LimitExceededError, limit

        # a probe for its layer chain only: placeholders, no initializer runs
        with initializers.deferred(limit("MAX_MODEL_ELEMENTS"), source=f"config '{config}'",
                                   error=LimitExceededError,
                                   holds="the limit MAX_MODEL_ELEMENTS allows"):
            model, _ = _config_model(io, config)
        if not_a_chain(model):
            raise CLIError(f"'{path}' is a PyTorch-style state dict and --config "
                           f"'{config}' {not_a_chain(model)}")
    try:
        return io.load_any(path, config)
    except io.ConfigRequiredError as exc:
        message = _NEEDS_CONFIG[exc.reason].format(path=exc.path, missing=exc.missing)
        raise CLIError(message) from exc
    except io.ConfigFileError as exc:
        raise CLIError(f"--config '{exc.path}'{exc.detail}") from exc


def _config_model(io, config):
    try:
        return io.model_from_config(config)
    except io.ConfigFileError as exc:
        raise CLIError(f"--config '{exc.path}'{exc.detail}") from exc


def not_a_chain(model) -> str:
    """Why a PyTorch state dict cannot hold ``model`` ('' when it can): a state dict is a
    stack of nn.LSTM / nn.GRU modules in order, one after the other; a functional model
    fits only when it is a plain chain of layers."""
    from ._specs import is_chain, is_functional

    if not is_functional(model) or is_chain(model):
        return ""
    what = []
    if len(model.inputs) > 1:
        what.append(f"{len(model.inputs)} inputs {model.input_names}")
    if len(model.outputs) > 1:
        what.append(f"{len(model.outputs)} outputs {model.output_names}")
    shape = " and ".join(what) or "branches, shared layers or keyword tensors (initial_state)"
    return (f"is a functional model with {shape}: a PyTorch nn.LSTM / nn.GRU state dict "
            "holds a plain stack of layers (one input, one output, each layer called once "
            "on the previous one), so it cannot say how the layers connect")
