"""Atomic file writes: a reader never sees a half-written file.

Every file tfav writes for a person or another process to read (runs' JSON,
PNGs, result tables, dataset files) goes through :func:`atomic_write_bytes`:
the data is written to a temporary file in the target's folder, then renamed
over the target. An interrupted write leaves the previous file (if any) intact.

This module is the bottom layer of tfav and imports nothing else from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp"):
    """A temporary file in ``path``'s folder to write to, renamed over ``path``
    when the block ends and removed if it raises.

    For writers that take a file name (a video muxer, a library that streams
    to disk); ``suffix`` ends the temporary name, so a writer that picks its
    format by the extension can be given ``".tmp" + path.suffix``. Missing
    parent folders are created.

    Example:
        >>> with atomic_path("out.mp4", suffix=".tmp.mp4") as tmp:
        ...     write_video(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike):
    """A new folder beside ``path`` (``.NAME.partial-XXXXXXXX``) to fill, renamed to
    ``path`` when the block ends (``path`` may exist only as an empty folder) and removed
    with everything in it if the block raises (Ctrl-C included).

    Example:
        >>> with atomic_folder("dataset") as tmp:
        ...     write_everything(tmp)
    """
    import shutil
    import uuid

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            path.rmdir()  # empty (an existing folder with files is an error)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written file, and an interrupted write leaves
    the previous file (if any) intact. Missing parent folders are created.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, atomically (written exactly as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj, indent: int = 1) -> None:
    """Write ``json.dumps(obj, indent=indent)`` to ``path``, atomically.

    The text is written as is, without a trailing newline.
    """
    atomic_write_text(path, json.dumps(obj, indent=indent))
