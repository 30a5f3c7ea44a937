"""``python -m npylstm``: the same command as ``npylstm`` (see :mod:`npylstm.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
