"""Atomic file writes: a reader never sees a half-written file.

Every file tfav writes for a person or another process to read (runs' JSON,
PNGs, result tables, dataset files) goes through :func:`atomic_write_bytes`:
the data is written to a temporary file in the target's folder, then renamed
over the target. An interrupted write leaves the previous file (if any) intact.

This module is the bottom layer of tfav and imports nothing else from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    the previous file (if any) intact. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically (written exactly as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 1) -> None:
    """Write ``json.dumps(obj, indent=indent)`` to ``path``, atomically.

    The text is written as is, without a trailing newline.
    """
    atomic_write_text(path, json.dumps(obj, indent=indent))
