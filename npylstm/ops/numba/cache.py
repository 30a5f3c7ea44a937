"""Where the compiled kernels' on-disk cache lives: :func:`cache_status`.

Numba saves each ``cache=True`` function as an index file (``<module>.<name>-<line>.py311.nbi``)
and one data file per compiled signature (``....1.nbc``) in a directory that its *cache
locator* chose when the function was decorated (``numba/core/caching.py`` of the installed
Numba, 0.68: ``CacheImpl._locator_classes``, tried in order):

1. ``UserProvidedCacheLocator``: ``$NUMBA_CACHE_DIR/<dir>_<sha1 of the source's folder>``
   when ``NUMBA_CACHE_DIR`` is set;
2. ``InTreeCacheLocator``: the ``__pycache__`` folder next to the source file;
3. ``UserWideCacheLocator``: ``<user cache dir>/numba/<dir>_<sha1>`` (on Linux
   ``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``);

each taken only if the directory can be created and a file written in it
(``_CacheLocator.ensure_cache_path``). ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces the list.
When none works Numba refuses ``cache=True`` and ``npylstm.ops.numba._jit.jit_kernel``
compiles without a cache (``CACHE_STATUS``).

This module re-implements none of those rules: it asks each kernel's dispatcher for the
cache object Numba gave it (``dispatcher._cache``, a ``FunctionCache`` whose
``cache_path`` is the directory its files are written to, and whose locator says which rule
chose it) and counts the files there. Only when a kernel has no cache does it run Numba's
locator classes again on the kernel's source file, to say where Numba looked.

>>> status = cache_status()
>>> status.enabled in (True, False) and all(loc.kernels > 0 for loc in status.locations)
True
>>> print(status)  # doctest: +SKIP
Numba kernel cache: enabled (NUMBA_CACHE_DIR not set)
  npylstm/ops/numba/lstm_kernels.py: 20 kernels, 20 cached, in .../npylstm/ops/numba/__pycache__
  ...
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numba
from numba.core import caching
from numba.core.dispatcher import Dispatcher

from . import _jit

__all__ = ["CacheLocation", "CacheStatus", "cache_status"]

#: The locators that serve a function in a regular ``.py`` file, in Numba's order (the
#: IPython and zip locators never apply to an installed package's source files).
_FILE_LOCATORS = ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")


@dataclass(frozen=True)
class CacheLocation:
    """The compiled functions of one source file and where Numba caches them.

    Attributes
    ----------
    source : the ``.py`` file defining the functions
    directory : the directory Numba writes their ``.nbi`` / ``.nbc`` files to, or None when
        they are not cached
    locator : the name of the Numba locator class that chose ``directory`` (None if none)
    kernels : how many compiled functions the file defines
    cached_kernels : how many of them have a current index there now: one Numba would load
        from (written for this source file's content, by this Numba version)
    cached_signatures : how many compiled signatures those indexes list
    index_files, data_files : how many ``.nbi`` / ``.nbc`` files of this source file are in
        ``directory`` now (older line numbers of edited functions included)
    tried : without a cache, Numba's locators as they answer now for this file:
        ``(locator, directory or None, "usable" or why not)``

    >>> loc = CacheLocation("kernels.py", "/cache", "InTreeCacheLocator", 3, 2, 4, 2, 5)
    >>> loc.kernels - loc.cached_kernels  # kernels the next process would compile again
    1
    """

    source: str
    directory: str | None
    locator: str | None
    kernels: int
    cached_kernels: int
    cached_signatures: int
    index_files: int
    data_files: int
    tried: tuple[tuple[str, str | None, str], ...] = ()


@dataclass(frozen=True)
class CacheStatus:
    """What :func:`cache_status` found.

    Attributes
    ----------
    enabled : every compiled function has an on-disk cache
    reason : why not (empty when enabled)
    numba_cache_dir : ``NUMBA_CACHE_DIR`` as Numba read it at import (None when unset)
    locations : one :class:`CacheLocation` per source file (and directory)

    >>> status = cache_status()
    >>> status.enabled == all(loc.directory for loc in status.locations) or not status.locations
    True
    >>> set(status.directories) <= {loc.directory for loc in status.locations}
    True
    """

    enabled: bool
    reason: str
    numba_cache_dir: str | None
    locations: tuple[CacheLocation, ...]

    @property
    def directories(self) -> tuple[str, ...]:
        """The directories the cache files go to, each once, in the locations' order."""
        return tuple(dict.fromkeys(loc.directory for loc in self.locations if loc.directory))

    @property
    def index_files(self) -> int:
        return sum(loc.index_files for loc in self.locations)

    @property
    def data_files(self) -> int:
        return sum(loc.data_files for loc in self.locations)

    def as_dict(self) -> dict:
        """Plain data (JSON-ready)."""
        return {
            "enabled": self.enabled, "reason": self.reason,
            "numba_cache_dir": self.numba_cache_dir, "directories": list(self.directories),
            "index_files": self.index_files, "data_files": self.data_files,
            "locations": [
                {**vars(loc), "tried": [list(t) for t in loc.tried]} for loc in self.locations
            ],
        }

    def __str__(self) -> str:
        env = (f"NUMBA_CACHE_DIR={self.numba_cache_dir}" if self.numba_cache_dir
               else "NUMBA_CACHE_DIR not set")
        head = "enabled" if self.enabled else f"disabled: {self.reason}"
        lines = [f"Numba kernel cache: {head} ({env})"]
        for loc in self.locations:
            where = (f"in {loc.directory} ({loc.locator}; {loc.index_files} index, "
                     f"{loc.data_files} data files)" if loc.directory else "not cached")
            lines.append(f"  {_short(loc.source)}: {loc.kernels} kernels, "
                         f"{loc.cached_kernels} cached ({loc.cached_signatures} signatures), "
                         f"{where}")
            lines.extend(f"    tried {name}: {path or '-'} ({note})"
                         for name, path, note in loc.tried)
        return "\n".join(lines)


def _short(source: str) -> str:
    """``source`` relative to the folder holding the ``npylstm`` package."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(sys.modules["npylstm"].__file__)))
    return os.path.relpath(source, root) if source.startswith(root + os.sep) else source


def _kernel_dispatchers() -> dict[str, list[Dispatcher]]:
    """Every compiled function npylstm defines, by source file: the dispatchers among the
    globals of each loaded ``npylstm`` module (importing ``npylstm.ops`` loads them all)."""
    import npylstm.ops  # noqa: F401  (the kernels' modules)

    found: dict[str, list[Dispatcher]] = {}
    for name, module in sorted(sys.modules.items()):
        if not (name == "npylstm" or name.startswith("npylstm.")) or module is None:
            continue
        for value in vars(module).values():
            if isinstance(value, Dispatcher) and value.py_func.__module__ == name:
                source = os.path.abspath(value.py_func.__code__.co_filename)
                if value not in found.setdefault(source, []):
                    found[source].append(value)
    return found


def _cache_of(dispatcher: Dispatcher):
    """The ``FunctionCache`` Numba gave ``dispatcher`` (None when it has none)."""
    cache = getattr(dispatcher, "_cache", None)
    return cache if isinstance(cache, caching.FunctionCache) else None


def _files(directory: str, source: str) -> list[str]:
    """The cache files of ``source``'s functions in ``directory`` (Numba names them
    ``<module file name>.<qualified name>-<line>.py<XY>...``)."""
    prefix = os.path.splitext(os.path.basename(source))[0] + "."
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [n for n in names if n.startswith(prefix) and n.endswith((".nbi", ".nbc"))]


def _current_entries(cache) -> int:
    """How many signatures ``cache``'s index lists for the source as it is now: Numba's own
    reading of its index (``IndexDataCacheFile._load_index``, as at a call: empty when the
    file is missing, from another Numba version, or stamped for other source content)."""
    try:
        return len(cache._cache_file._load_index())
    except Exception:  # a damaged index: Numba would recompile, so nothing is cached
        return 0


def _tried(dispatcher: Dispatcher, source: str) -> tuple[tuple[str, str | None, str], ...]:
    """Numba's file locators run on ``source`` now: where each would cache, and whether it
    can (``from_function`` returns a locator only for a writable directory)."""
    answers = []
    for name in _FILE_LOCATORS:
        cls = getattr(caching, name)
        if name == "UserProvidedCacheLocator" and not numba.config.CACHE_DIR:
            answers.append((name, None, "NUMBA_CACHE_DIR not set"))
            continue
        path = cls(dispatcher.py_func, source).get_cache_path()
        usable = cls.from_function(dispatcher.py_func, source) is not None
        answers.append((name, path, "usable" if usable else "cannot create or write it"))
    if numba.config.CACHE_LOCATOR_CLASSES:
        answers.append(("NUMBA_CACHE_LOCATOR_CLASSES", None,
                        f"only {numba.config.CACHE_LOCATOR_CLASSES} are tried"))
    return tuple(answers)


def cache_status() -> CacheStatus:
    """Whether npylstm's compiled kernels are cached on disk, and where.

    Reads the cache objects Numba attached to the kernels (see the module docstring): the
    directory reported is the one Numba writes to, as chosen by its own locators.

    Returns
    -------
    CacheStatus
        ``enabled`` and ``reason`` (as ``npylstm.ops.numba.CACHE_STATUS``, plus
        ``NUMBA_DISABLE_JIT``), ``NUMBA_CACHE_DIR``, and one :class:`CacheLocation` per
        source file of compiled functions with its directory and file counts.
    """
    cache_dir = numba.config.CACHE_DIR or None
    if numba.config.DISABLE_JIT:
        return CacheStatus(False, "NUMBA_DISABLE_JIT=1: the kernels run as plain Python, "
                           "nothing is compiled or cached", cache_dir, ())
    locations = []
    for source, dispatchers in _kernel_dispatchers().items():
        groups: dict[str | None, list] = {}
        for dispatcher in dispatchers:
            cache = _cache_of(dispatcher)
            groups.setdefault(None if cache is None else cache.cache_path, []).append(
                (dispatcher, cache))
        for directory, members in groups.items():
            if directory is None:
                locations.append(CacheLocation(source, None, None, len(members), 0, 0, 0, 0,
                                               _tried(members[0][0], source)))
                continue
            files = _files(directory, source)
            entries = [_current_entries(cache) for _, cache in members]
            locator = getattr(getattr(members[0][1], "_impl", None), "locator", None)
            locations.append(CacheLocation(
                source, directory, None if locator is None else type(locator).__name__,
                len(members),
                sum(n > 0 for n in entries), sum(entries),
                sum(name.endswith(".nbi") for name in files),
                sum(name.endswith(".nbc") for name in files),
            ))
    enabled = bool(locations) and all(loc.directory for loc in locations)
    reason = str(_jit.CACHE_STATUS["reason"])
    if not enabled and not reason:
        reason = "some kernels have no cache" if locations else "no compiled kernels found"
    return CacheStatus(enabled, "" if enabled else reason, cache_dir, tuple(locations))
