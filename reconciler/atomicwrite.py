"""The one way the tool writes a file: whole or not at all, never through a planted link.

The text goes to a fresh temporary file made with ``mkstemp`` (O_EXCL: a name planted in
advance, or a symlink, is never opened) in the target's folder, is flushed to disk, and
is renamed over the target; on any failure the temporary file is removed. Renaming over
a symlink replaces the link itself, never the file it points at.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path

from reconciler.errors import ReconcilerError

NEW_FILE_MODE = 0o644


def write_atomic(path: str | Path, text: str, *, mode: int | None = None,
                 make_parents: bool = False) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically.

    ``mode`` defaults to the replaced file's permissions, or 0644 for a new file.
    ``make_parents`` creates a missing folder; otherwise a missing folder is an error.
    Failures raise ReconcilerError naming ``path`` (never a temporary name).
    """
    target = Path(path)
    folder = target.parent
    try:
        if make_parents:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise ReconcilerError(f"cannot write {path}: folder {folder} does not exist")
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, _mode_for(target) if mode is None else mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise ReconcilerError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    _sync_folder(folder)


def _mode_for(target: Path) -> int:
    try:
        info = target.lstat()
    except OSError:
        return NEW_FILE_MODE
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else NEW_FILE_MODE


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
