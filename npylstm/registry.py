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

import contextlib
import contextvars
from collections.abc import Callable

__all__ = ["UnknownClassError", "custom_object_scope", "deserialize", "get", "names",
           "register", "serialize"]

_CLASSES: dict[str, type] = {}
#: The classes a caller supplies for names of their own (``custom_objects``), per context.
_CUSTOM: contextvars.ContextVar[tuple[tuple[str, type], ...]] = contextvars.ContextVar(
    "custom", default=())


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


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict | None):
    """Within the block, configs and files may name these classes too, as Keras's
    ``custom_object_scope`` / ``load_model(..., custom_objects=...)``.

    ``custom_objects`` maps the name a Keras file gives a class (its ``class_name``, or
    its ``registered_name`` such as ``"Custom>Attention"``) to an **npylstm layer class**
    (a subclass of :class:`npylstm.layers.Layer` with ``forward`` / ``backward`` in NumPy,
    see CONTRIBUTING's "adding a layer"). Anything else is refused: a file never makes
    npylstm call a function it names.

    >>> from npylstm.layers import Dense
    >>> class Scaled(Dense):
    ...     pass
    >>> with custom_object_scope({"Scaled": Scaled}):
    ...     type(deserialize({"class_name": "Scaled", "config": {"units": 2}})).__name__
    'Scaled'
    >>> "Scaled" in names()
    False
    """
    from .layers.base import Layer

    supplied = dict(custom_objects or {})
    for key, cls in supplied.items():
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(
                f"custom_objects[{key!r}]: expected an npylstm layer class (a subclass of "
                f"npylstm.layers.Layer with forward/backward), received {cls!r}"
            )
        class_name = key.rsplit(">", 1)[-1]
        if "keras_class_name" not in cls.__dict__:
            cls.keras_class_name = class_name
    token = _CUSTOM.set(tuple({**dict(_CUSTOM.get()), **supplied}.items()))
    try:
        yield
    finally:
        _CUSTOM.reset(token)


def _custom(class_name, registered_name=None) -> type | None:
    supplied = dict(_CUSTOM.get())
    for key in (registered_name, class_name):
        if isinstance(key, str) and key in supplied:
            return supplied[key]
    for key, cls in supplied.items():  # "package>Name" supplied, "Name" asked
        if key.rsplit(">", 1)[-1] == class_name:
            return cls
    return None


def names() -> list[str]:
    """Every registered Keras class name (and those supplied by an active
    :func:`custom_object_scope`), sorted."""
    _load_builtins()
    return sorted(set(_CLASSES) | {k.rsplit(">", 1)[-1] for k, _ in _CUSTOM.get()})


def get(class_name, where: str = "", registered_name: str | None = None) -> type:
    """The class registered (or supplied as a custom object) under ``class_name``, or
    :class:`UnknownClassError`.

    >>> get("Dense").__name__
    'Dense'
    """
    _load_builtins()
    cls = _custom(class_name, registered_name)
    if cls is None and isinstance(class_name, str):
        cls = _CLASSES.get(class_name)
    if cls is None:
        prefix = f"{where}: " if where else ""
        raise UnknownClassError(
            f"{prefix}unknown layer class {class_name!r}: npylstm builds only its registered "
            f"classes {sorted(_CLASSES)}, and the classes supplied with "
            f"load_model(..., custom_objects={{{class_name!r}: YourLayer}})"
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
    cls = get(entry["class_name"], where, entry.get("registered_name"))
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
    custom = any(c is cls for _, c in _CUSTOM.get())
    if class_name is None or (_CLASSES.get(class_name) is not cls and not custom):
        raise ValueError(
            f"registry: {cls.__name__} is not a registered class; registered: {names()}"
        )
    if custom:  # a user's class: Keras finds it by its registered name ("Custom>Name")
        return {
            "module": cls.__dict__.get("KERAS_MODULE", cls.__module__),
            "class_name": class_name,
            "config": obj.get_config(),
            "registered_name": cls.__dict__.get("KERAS_REGISTERED_NAME", f"Custom>{class_name}"),
        }
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
