"""One atomic writer for every file npylstm writes: models, weights, state dicts, predictions,
plots, converted configs (and ONNX).

:func:`atomic_write` (a callback given a temporary path) and :func:`atomic_open` (a context
manager yielding a file handle) both

1. write to a temporary file beside the target (same directory, so the rename never crosses
   file systems), flush and ``fsync`` it, ``os.replace`` it over the target, then ``fsync``
   the directory where the OS allows it: after a crash, ``kill -9`` or a full disk the
   target is either the old file, whole, or the new one, whole -- never a truncated file;
2. remove the temporary file on any exception (``KeyboardInterrupt`` included) and leave an
   existing target untouched;
3. give the file the permissions a plain ``open(path, "w")`` would: ``0o666 & ~umask`` for a
   new file, the existing file's mode when overwriting (``tempfile.mkstemp`` alone would
   make it 0600);
4. raise errors that name the user's path and the cause, never the temporary file: a
   missing directory (``FileNotFoundError``), a path that is a directory or not a regular
   file (:class:`KerasFileError`), a read-only directory (``PermissionError``), a full disk
   (``OSError`` with ``errno.ENOSPC``); an ``OSError`` keeps its class and ``errno``.

A symbolic link at the target is followed, as ``open()`` follows it: the file it points to
is replaced and the link stays. An existing file this user may not write is refused, as
``open()`` refuses it. Unlike ``open()``, an atomic write also needs permission to create a
file in the target's directory; the new file belongs to the writing user (an overwritten
file's owner and group are not carried over), and other hard links to an overwritten file
keep the old content.

This is npylstm's own (Keras writes with plain ``open`` / ``h5py.File`` / ``zipfile``); the
recipe is the usual POSIX one (write, fsync, rename, fsync the directory).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .model_file import KerasFileError

__all__ = ["atomic_open", "atomic_write", "current_umask"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting a
    restrictive umask (0o077) and restoring it at once, under a lock, so a file another
    thread creates in that instant is private rather than world-writable.

    >>> import os
    >>> old = os.umask(0o027)
    >>> oct(current_umask())
    '0o27'
    >>> _ = os.umask(old)
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        umask = os.umask(0o077)
        os.umask(umask)
    return umask


def _target(path: Path) -> tuple[Path, int]:
    """The file to replace (``path``, or what its symbolic link points to) and its mode."""
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    if real.is_dir():
        raise KerasFileError(f"'{path}' is a directory; expected a file path to write")
    directory = real.parent if str(real.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"Cannot write '{path}': the directory '{directory}' does not exist"
        )
    try:
        st = real.stat()
    except FileNotFoundError:
        return real, 0o666 & ~current_umask()
    if not stat.S_ISREG(st.st_mode):
        raise KerasFileError(
            f"'{path}' is not a regular file (a device, pipe or socket); expected a file "
            "path to write"
        )
    if not os.access(real, os.W_OK):  # open(path, "w") refuses a read-only file: so do we
        denied = PermissionError(f"Cannot write '{path}': Permission denied (the file is "
                                 "read-only for this user)")
        denied.errno = errno.EACCES
        raise denied
    return real, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID)


def _renamed(exc: OSError, path: Path, tmp: Path | None, hint: str = "") -> OSError:
    """``exc`` as the same ``OSError`` class and errno, naming ``path`` instead of ``tmp``."""
    cause = exc.strerror or str(exc) or type(exc).__name__
    if tmp is not None:
        cause = cause.replace(str(tmp), str(path))
    message = f"Cannot write '{path}': {cause}{hint}"
    try:
        renamed = type(exc)(message)
    except Exception:  # an OSError subclass with its own constructor
        renamed = OSError(message)
    renamed.errno = exc.errno
    return renamed


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory for fsync
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _staged(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place, durably."""
    path = Path(path)
    real, mode = _target(path)
    directory = real.parent if str(real.parent) else Path(".")
    try:
        # a name beside the target, short enough for any file system's name limit
        fd, name = tempfile.mkstemp(prefix=f".{real.name[:64]}.", suffix=".tmp",
                                    dir=directory)
    except OSError as exc:
        hint = ""
        if isinstance(exc, PermissionError):
            hint = (f" (the directory '{directory}' is not writable: an atomic write creates "
                    "a temporary file beside the target)")
        raise _renamed(exc, path, None, hint) from exc
    tmp = Path(name)
    try:
        os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDWR)  # the callback may have replaced the file: reopen it
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # Windows
                os.chmod(tmp, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _renamed(exc, path, tmp) from exc
        raise
    _fsync_directory(directory)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(tmp)`` fills a temporary file beside ``path``,
    which then replaces ``path`` (see the module docstring for the guarantees).

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its directory must exist.
    write : callable
        ``write(tmp: Path) -> None``: writes the whole content to ``tmp`` (an existing,
        empty file it may open, truncate or recreate by name, e.g. ``h5py.File(tmp, "w")``).
        Any exception it raises leaves no file behind and ``path`` as it was.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    FileNotFoundError
        The directory of ``path`` does not exist.
    KerasFileError
        ``path`` is a directory, or exists and is not a regular file.
    OSError
        Writing failed (read-only directory, full disk, ...): the same class and ``errno``,
        the message naming ``path`` and the cause.

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> from npylstm.io.atomic import atomic_write
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> atomic_write(target, lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    >>> def fails(tmp):
    ...     tmp.write_text("half")
    ...     raise OSError("disk full")
    >>> atomic_write(target, fails)
    Traceback (most recent call last):
    OSError: Cannot write '...notes.txt': disk full
    >>> target.read_text(), os.listdir(target.parent)
    ('hello', ['notes.txt'])
    """
    with _staged(path) as tmp:
        write(tmp)
    return Path(path)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO]:
    """A file handle whose content replaces ``path`` atomically when the block ends
    without an exception (with one, ``path`` is left as it was and nothing is left behind).

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its directory must exist.
    mode : {"wb", "w"}
        Binary (default) or text.
    encoding, newline : str, optional
        For text mode, as :func:`open` (``encoding`` defaults to UTF-8).

    Yields
    ------
    file object
        Open on a temporary file beside ``path``: give a format explicitly to writers that
        guess it from the file's name (``fig.savefig(handle, format="png")``).

    Raises
    ------
    As :func:`atomic_write`.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from npylstm.io.atomic import atomic_open
    >>> target = os.path.join(tempfile.mkdtemp(), "y.npy")
    >>> with atomic_open(target) as handle:
    ...     np.save(handle, np.arange(3))
    >>> np.load(target)
    array([0, 1, 2])
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: expected mode 'wb' or 'w', received {mode!r}")
    if mode == "w":
        encoding = encoding or "utf-8"
    elif encoding is not None or newline is not None:
        raise ValueError("atomic_open: encoding and newline are for text mode ('w') only")
    with _staged(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as handle:
        yield handle
        handle.flush()
