"""Compiled waits for the worker threads of ``parallel.py``: spinning on a counter with the
GIL released, so a hand-off between threads costs no sleep and wake-up.

Why: a thread woken from a lock or condition variable takes about 25 us to run again on
the 2-core VMs this project is measured on (a lock ping-pong between two Python threads:
55 us per round trip), and a hand-off with locks wakes two threads (the worker at the
start, the caller at the end). Spinning in Python would hold the GIL the other thread
needs. So both sides spin here, in nopython code that releases the GIL, on counters in a
small ``int64`` array that the other side raises: ``cells[0]`` the tasks posted,
``cells[1]`` the tasks finished, ``cells[2]`` nonzero while the caller sleeps. A wait gives
up after ``iterations`` loads (the caller then sleeps on a condition variable, see
``parallel._Worker``), so an idle worker does not keep a core busy.

The loads and stores are atomic (acquire / release): a plain load in a loop with no other
side effect could be hoisted out of it by LLVM and spin forever, and the release store
orders the task's results before the counter that announces them.

Numba's cache checks only this file's modification time and size, but these functions
have the options of ``_jit.py`` compiled into them: :data:`HELPERS_SOURCE_SHA256` records
its SHA-256 (see the package docstring).
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import jit_kernel

__all__ = ["HELPERS_SOURCE_SHA256", "POSTED", "FINISHED", "CALLER_ASLEEP", "_wait_for",
           "_finish_and_wait"]

#: SHA-256 of what this module's functions compile in from other ``npylstm`` files (see
#: ``lstm_cells.py``); ``tests/test_numba_cache.py`` prints the digest to paste.
HELPERS_SOURCE_SHA256: dict[str, str] = {
    "ops/numba/_jit.py": "5edc77b651ae5b21a1056d5e822da93c4779249c7c535fe8a54cf64bbfb2ead4",
}

#: The cells of a worker's ``int64`` counter array.
POSTED, FINISHED, CALLER_ASLEEP = 0, 1, 2


def _item_pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index])


@intrinsic
def _load_acquire(typingctx, cells, index):
    """``cells[index]``, an atomic load with acquire ordering."""

    def codegen(context, builder, signature, args):
        ptr = _item_pointer(context, builder, signature.args[0], *args)
        return builder.load_atomic(ptr, ordering="acquire", align=8)

    return cells.dtype(cells, index), codegen


@intrinsic
def _store_release(typingctx, cells, index, value):
    """``cells[index] = value``, an atomic store with release ordering."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ptr = _item_pointer(context, builder, array_type, args[0], args[1])
        stored = context.cast(builder, args[2], signature.args[2], array_type.dtype)
        builder.store_atomic(stored, ptr, ordering="release", align=8)
        return context.get_dummy_value()

    return types.void(cells, index, value), codegen


@jit_kernel
def _wait_for(cells, index, target, iterations):
    """Spin until ``cells[index] >= target`` (True) or for ``iterations`` loads (False)."""
    n = 0
    while _load_acquire(cells, index) < target:
        n += 1
        if n >= iterations:
            return False
    return True


@jit_kernel
def _finish_and_wait(cells, finished, iterations):
    """The worker's side: publish ``cells[FINISHED] = finished``, then spin until the next
    task is posted (``cells[POSTED] > finished``: True), for ``iterations`` loads, or until
    the caller sleeps (``cells[CALLER_ASLEEP]``; it must then be woken from Python): False.
    Publishing inside the spin means the caller, seeing the count, finds the GIL free."""
    _store_release(cells, FINISHED, finished)
    n = 0
    while _load_acquire(cells, POSTED) <= finished:
        n += 1
        if n >= iterations or _load_acquire(cells, CALLER_ASLEEP) != 0:
            return False
    return True
