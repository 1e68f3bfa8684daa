"""Replacing a file so that a reader sees the old content or the new, never half of either.

The new content is written to a temporary file in the same directory (so the rename stays on one
file system) and renamed over the old one with ``os.replace``, which POSIX makes atomic. A write
that fails leaves the old file as it was and removes its temporary file. ``durable=True`` also
flushes the file and the directory to the disk before and after the rename, for what must survive
a power cut (a renewal's state: a CSR that went to a CA is never generated again).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path, *, mode: int = 0o600, durable: bool = False) -> Iterator[Path]:
    """Yield a new temporary file beside ``path``; when the block ends without error, it becomes ``path``.

    The file gets ``mode`` (whatever the umask); an error inside the block, or in the rename,
    removes the temporary file and is raised. The directory must exist.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        if durable:
            _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)


def write_atomic(path: Path, text: str, *, mode: int = 0o600, durable: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; see :func:`replacing`."""
    with replacing(path, mode=mode, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def move_durably(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` (same file system) and flush both directories to the disk."""
    os.replace(source, target)
    _fsync(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    if source.parent != target.parent:
        _fsync(source.parent, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
