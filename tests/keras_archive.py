"""Edited copies of ``.keras`` archives for the tests of bad files (one copy for all)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

__all__ = ["edited_keras_config"]


def edited_keras_config(src: Path, dst: Path, edit) -> Path:
    """A copy of the ``.keras`` archive ``src`` at ``dst`` whose config.json went through
    ``edit(config)`` (which changes the dict in place, or returns the one to write); every
    other member is copied as it is, with its zip metadata."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edited = edit(config)
                data = json.dumps(config if edited is None else edited)
            zout.writestr(info, data)
    return dst
