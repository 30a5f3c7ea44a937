"""The Numba core: the compiled LSTM and GRU kernels, split by concern.

* ``_jit.py``: :func:`jit_kernel`, the ``njit`` decorator every kernel uses (on-disk cache,
  :data:`JIT_OPTIONS`, :data:`CACHE_STATUS`).
* ``activations.py``: the jitted activation helpers every cell's kernel inlines, and
  :data:`ACTIVATION_CODES`.
* ``elementwise.py``: :func:`activate` and :func:`derivative`, those helpers' compiled loops
  over whole arrays (bit for bit what the core computes), and activation names to codes.
* ``simd.py``: a 16-lane vector type with load / store (also masked) / fma / add
  intrinsics, for the register-blocked products.
* ``products.py``: the written-out vector-matrix products the LSTM and GRU kernels share
  (one row, or four rows loading each weight once), and the small-units LSTM's
  register-blocked micro-kernels (pre-activations forward, ``dz_t @ recurrent_kernel.T``
  backward).
* ``lstm_cells.py``: the LSTM's one-step functions (one timestep of one row), in a form for
  any activation codes and one for tanh / sigmoid (``_ts``).
* ``lstm_kernels.py``: the LSTM's kernels over whole sequences (no ``prange``: ``lstm.py``
  runs them in Python worker threads, ``parallel._run_parts``; they release the GIL).
* ``handoff.py``: the compiled waits of a hand-off between threads (spinning on atomic
  counters with the GIL released).
* ``parallel.py``: pure-Python orchestration: worker threads, row splits, fork and
  threading-layer guards.
* ``lstm.py``: :func:`lstm_forward`, :func:`lstm_inference`, :func:`lstm_backward`, with
  the signatures of ``npylstm/ops/lstm_reference.py`` (``npylstm.ops.lstm_numba``
  re-exports them under the backend's original name).
* ``gru_kernels.py``: the GRU's compiled kernels (both ``reset_after`` conventions).
* ``cache.py``: :func:`cache_status`, whether the kernels are cached on disk and the
  directory Numba writes their cache files to (as its own cache locators chose it).
* ``gru.py``: :func:`gru_forward`, :func:`gru_inference`, :func:`gru_backward`, the GRU
  cell's equations (``npylstm.ops.gru_numba`` re-exports them; ``npylstm.ops.kernels``
  puts them behind the generic loop's signatures).

The cache rule. ``cache=True`` makes Numba save each compiled function next to its source
and reuse it in later processes as long as *that function's own file* keeps its
modification time and size. It does not look at the files of the jitted helpers the
function calls (their machine code is compiled into it), the values of the globals it
reads from other modules (frozen in at compile time), or the decorator options of
``_jit.py``: after such a file changes, the kernels of an unchanged file would keep running
their old machine code. So every module that defines compiled functions declares
``HELPERS_SOURCE_SHA256``, one SHA-256 per ``npylstm`` file it imports from (paths relative
to the ``npylstm`` package, line endings normalised to ``\n``): of the whole file when that
file uses Numba, else of the definitions of the names imported from it, keyed
``"file: NAME, ..."`` (so editing, say, the NumPy code of ``npylstm/activations.py``
recompiles nothing, but changing its SELU constants does). ``tests/test_numba_cache.py``
checks that every list is complete and current; when it fails, paste the digest it prints
into the constant: that edit changes the importing file, so Numba recompiles its kernels.
The rule chains: a new SELU constant updates ``activations.py``'s constant, which changes
``activations.py``, whose digest ``lstm_cells.py`` then updates, whose digest
``lstm_kernels.py`` then updates. Keep pure-Python code
out of the files of jitted functions (``elementwise.py``, ``parallel.py``, ``lstm.py``,
``gru.py``), so that editing it does not force a recompile.
"""

from __future__ import annotations

from ._jit import CACHE_STATUS, JIT_OPTIONS, jit_kernel
from .activations import ACTIVATION_CODES
from .cache import CacheLocation, CacheStatus, cache_status
from .elementwise import activate, derivative
from .gru import GRUCache, gru_backward, gru_forward, gru_inference
from .lstm import lstm_backward, lstm_forward, lstm_inference

__all__ = [
    "ACTIVATION_CODES",
    "CACHE_STATUS",
    "CacheLocation",
    "CacheStatus",
    "cache_status",
    "JIT_OPTIONS",
    "activate",
    "derivative",
    "GRUCache",
    "gru_backward",
    "gru_forward",
    "gru_inference",
    "jit_kernel",
    "lstm_backward",
    "lstm_forward",
    "lstm_inference",
]
