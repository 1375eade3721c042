"""Writing output files safely: never half a file, never over something that is not a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import DataError


def write_file(path, source: str, *, force: bool = False):
    """Write `source` to `path` atomically (a temporary file in the same folder, then
    os.replace), refusing to overwrite an existing file unless `force`."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a file name such as {path / 'model.py'}")
    if path.exists() and not force:
        raise DataError(f"{path} exists; pass --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"cannot write {path}: no folder {folder}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
