"""The ``npylstm`` command (also ``python -m npylstm``).

::

    npylstm demo [--epochs 20] [--seed 0] [--out DIR]   train the seeds' damped-sine model
    npylstm summary FILE                                Keras-style summary + param formulas
    npylstm predict FILE --input X --output Y           X, Y as .npy or .csv
    npylstm crosscheck FILE [--grad] [--atol 1e-5]      npylstm vs real Keras, layer by layer
    npylstm convert SRC DST                             .keras .weights.h5 .h5 .json .npz .pt
    npylstm gates FILE --input X [--plot gates.png]     trace the gates (and plot them)
    npylstm bench [--quick]                             run benchmarks/run.py

Functional models (several inputs / outputs): one ``--input`` per model input and one
``--output`` per output, in the model's order or by name (``--input encoder_inputs=a.npy
--input decoder_inputs=b.csv``); a wrong count or an unknown name is an error listing the
model's inputs (names, shapes, dtypes). Integer inputs (an Embedding's ids) keep their
dtype from ``.npy`` and are parsed as integers from CSV. ``crosscheck`` compares every
layer call, mask and output (``_specs``, ``crosscheck_graph``); ``gates --layer NAME``
traces a recurrent layer's call inside the graph (``NAME#k``: a shared layer's k-th call);
a PyTorch state dict holds only a plain chain of layers (other graphs are refused).

Exit status: 0 success; 1 ``crosscheck`` found a difference above ``--atol``; 2 an error
(missing file, wrong format, bad shapes, missing optional dependency), reported as one
line on stderr (``--debug`` shows the traceback instead).

A model stored as weights only (``.weights.h5``, a legacy weights ``.h5``, a PyTorch state
dict) needs ``--config``: a ``.keras`` / ``.h5`` model file with the same layers, or a JSON
model config (``keras_model.to_json()``, or the ``config.json`` inside a ``.keras`` file).

BLAS threads: the matrices of an LSTM step are small, and OpenBLAS's worker threads cost
more than they save (on a busy 2-core machine ``fit`` ran 20x slower with 2 threads than
with 1), so the command limits BLAS to ``--threads`` (default 1) threads when
``threadpoolctl`` is installed.

One module per command (``demo``, ``summary``, ``predict``, ``crosscheck``, ``convert``,
``gates``, ``bench``); ``_common`` holds what they share, ``_load`` reads every model
format through :func:`npylstm.io.load_any`, ``parser`` and ``main`` the entry point.
"""

from __future__ import annotations

from ._common import (
    EXIT_ERROR,
    EXIT_MISMATCH,
    EXIT_OK,
    CLIError,
    fit_input,
    read_array,
    write_array,
)
from ._load import load_any_model
from .bench import find_benchmarks
from .main import main
from .parser import build_parser

__all__ = [
    "EXIT_ERROR",
    "EXIT_MISMATCH",
    "EXIT_OK",
    "CLIError",
    "build_parser",
    "find_benchmarks",
    "fit_input",
    "load_any_model",
    "main",
    "read_array",
    "write_array",
]
