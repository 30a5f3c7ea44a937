"""Every ``>>>`` example in the package runs and prints what its docstring says.

Each module starts from a fresh name counter (``clear_session``), so examples that show
a layer's default name (``'lstm'``, ``'forward_lstm'``) hold whatever ran before.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import npylstm
from npylstm.layers import clear_session

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(npylstm.__path__, "npylstm.")
    if info.name != "npylstm.__main__"
    # not an alias module (npylstm.model is npylstm.models)
    and importlib.import_module(info.name).__name__ == info.name
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    clear_session()
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
