"""``python -m npylstm.cli``: the same command as ``npylstm``."""

from __future__ import annotations

import sys

from .main import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
