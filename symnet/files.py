"""Writing output files safely: never half a file, never over something that is not a file.

Every file symnet writes (codegen -o, graph -o, prove --markdown, train --plot, the
benchmarks' results) goes through `check_output` (early, before any long computation) and
`write_output` (a temporary file in the same folder, flushed, then renamed over the target).
Errors are one-line DataErrors.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import DataError


def check_output(path, *, force: bool = False, default_suffix: str | None = None,
                 example: str = "out") -> Path:
    """The path to write, or a one-line DataError: a directory, a missing folder, an existing
    file that is not a regular file (FIFO, device, socket: refused even with `force`), or an
    existing file without `force`. A path without a suffix gets `default_suffix`."""
    path = Path(path)
    if default_suffix and not path.suffix and not path.is_dir():
        path = path.with_suffix(default_suffix)
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a file name such as "
                        f"{path / (example + (default_suffix or ''))}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise DataError(f"{path} is not a regular file; symnet writes only regular files")
    if st is not None and not force:
        raise DataError(f"{path} exists; pass --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"cannot write {path}: no folder {folder}")
    return path.resolve() if path.is_symlink() else path  # replace the file a link names


def write_output(path, data: str | bytes | Callable[[BinaryIO], None], *, force: bool = False,
                 default_suffix: str | None = None) -> Path:
    """Write `data` (text, bytes, or a function writing to a binary file) to `path` atomically:
    a temporary file in the same folder, flushed to disk, then renamed over the target, so a
    failure (a full disk) leaves any old file whole. Checked first as `check_output` does.
    Returns the path written."""
    path = check_output(path, force=force, default_suffix=default_suffix)
    folder = path.parent if str(path.parent) else Path(".")
    existed = path.exists()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise DataError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        _unlink_quietly(tmp)
        kept = "; the old file is unchanged" if existed else ""
        raise DataError(f"cannot write {path}: {e.strerror or e}{kept}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path


def write_file(path, source: str, *, force: bool = False) -> Path:
    """Write text `source` to `path` atomically, refusing to overwrite an existing file unless
    `force` (and anything that is not a regular file, always)."""
    return write_output(path, source, force=force)


def _unlink_quietly(tmp):
    with contextlib.suppress(OSError):
        os.unlink(tmp)
