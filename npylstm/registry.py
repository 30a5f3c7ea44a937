"""The one allow-list: layer and model classes by their Keras class name.

Files and configs name classes by string (``{"class_name": "LSTM", "config": {...}}``). Only
a class that registered itself here can be built from such a name: nothing named in a
file is ever imported or evaluated (Keras's ``serialization_lib`` imports modules a
config names; npylstm never does).

A class registers with a decorator, in its own file::

    @register("LSTM")
    class LSTM(RNN): ...

and declares itself everything the rest of the code needs (see
:class:`npylstm.layers.Layer`): its config keys (its ``__init__`` arguments, plus
``KERAS_IGNORED`` for keys Keras writes that change nothing here), its Keras 2 <-> 3
config migrations (``KERAS2_ONLY``, ``KERAS3_ONLY``, ``ACTIVATION_KEYS``,
``from_keras2_config``), where its variables live in each file format
(``variable_tree``), and its parameter formula (``param_rule``).

>>> from npylstm import registry
>>> registry.get("LSTM").__name__
'LSTM'
>>> layer = registry.deserialize({"class_name": "Dense", "config": {"units": 3}})
>>> registry.serialize(layer)["class_name"]
'Dense'
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["UnknownClassError", "deserialize", "get", "names", "register", "serialize"]

_CLASSES: dict[str, type] = {}


class UnknownClassError(ValueError):
    """A config names a class that is not in the registry."""


def register(name: str | None = None) -> Callable[[type], type]:
    """Class decorator: make ``cls`` buildable from configs under the Keras class ``name``.

    ``name`` defaults to the class's own name. Sets ``cls.keras_class_name``. Registering
    two classes under one name is an error (a class would silently replace another).
    """

    def decorate(cls: type) -> type:
        key = name or cls.__name__
        existing = _CLASSES.get(key)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"registry: class name {key!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        cls.keras_class_name = key
        _CLASSES[key] = cls
        return cls

    return decorate


def names() -> list[str]:
    """Every registered Keras class name, sorted."""
    _load_builtins()
    return sorted(_CLASSES)


def get(class_name, where: str = "") -> type:
    """The class registered under ``class_name``, or :class:`UnknownClassError`.

    >>> get("Dense").__name__
    'Dense'
    """
    _load_builtins()
    cls = _CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        prefix = f"{where}: " if where else ""
        raise UnknownClassError(
            f"{prefix}unknown layer class {class_name!r}: npylstm builds only its registered "
            f"classes {sorted(_CLASSES)}"
        )
    return cls


def deserialize(entry, where: str = ""):
    """Build a layer (or model) from ``{"class_name": ..., "config": {...}}``.

    The class comes from the registry only; its ``from_config`` validates every key.
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(
            f"{prefix}expected a layer entry {{'class_name': ..., 'config': {{...}}}}, "
            f"received {type(entry).__name__}"
        )
    cls = get(entry["class_name"], where)
    config = entry.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError(
            f"{prefix}{entry['class_name']}: expected its config to be a dict, received "
            f"{type(config).__name__}"
        )
    return cls.from_config(dict(config))


def serialize(obj) -> dict:
    """``obj`` as Keras 3 serializes a layer: ``{"module", "class_name", "config",
    "registered_name"}`` (``registered_name`` is None for Keras's own classes)."""
    cls = type(obj)
    class_name = getattr(cls, "keras_class_name", None)
    if class_name is None or _CLASSES.get(class_name) is not cls:
        raise ValueError(
            f"registry: {cls.__name__} is not a registered class; registered: {names()}"
        )
    return {
        "module": getattr(cls, "KERAS_MODULE", "keras.layers"),
        "class_name": class_name,
        "config": obj.get_config(),
        "registered_name": None,
    }


def _load_builtins() -> None:
    """Import the package's layer and model modules, which register their classes."""
    if "InputLayer" not in _CLASSES:
        from . import layers, models  # noqa: F401 - imported for their registrations
