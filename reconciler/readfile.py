"""Reading an input file: a regular file only, and never more than a cap.

A size check on ``stat`` alone does not bound a read: ``/dev/zero``, ``/dev/urandom``
and FIFOs report size 0 and then never end (or, for a FIFO, the open itself waits for a
writer forever). Every file the tool reads as input (desired files, saved plans, the
local state file) comes through :func:`read_limited`, which

- refuses anything that is not a regular file before opening it (opening a device can
  have effects of its own), then opens with ``O_NONBLOCK`` (a FIFO swapped in after the
  check cannot block the open) and checks again on the open descriptor, so what is read
  is what was checked;
- reads at most ``limit + 1`` bytes and refuses the file when that last byte exists,
  whatever ``st_size`` said (a file may grow while it is read).

Symlinks are followed: a committed link to a regular file is fine, a link to a device is
refused like the device. Errors carry a short reason; each caller words the line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

# Caps of the other input files (desired files: reconciler.desired.document.MAX_FILE_BYTES, 1 MiB).
# A saved plan of 100 pools, every one created, is ~120 KB and of 1,000 pools ~1.2 MB (the
# benchmarks go past AKS's 100-pool limit); a local state file holds about as much per
# pool. 16 MiB is over 10x the largest either can be, and json.loads reads it in well under
# a second and a few hundred MB.
SAVED_PLAN_MAX_BYTES = 16 * 1024 * 1024
STATE_FILE_MAX_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))
_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class UnreadableFile(Exception):
    """The file cannot be read as input; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingFile(UnreadableFile):
    """There is no file at the path."""


class NotRegularFile(UnreadableFile):
    """A directory, FIFO, device or socket where a file was expected."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "a directory", "a FIFO", "a character device", ...
        super().__init__("is a directory, not a file" if kind == "a directory"
                         else f"is not a regular file ({kind})")


class FileTooLarge(UnreadableFile):
    """More than the cap's bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"is larger than {describe_size(limit)}")


def describe_size(limit: int) -> str:
    """``1048576`` -> ``1 MiB``; sizes that are not whole MiB in bytes."""
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit} bytes"


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``; UnreadableFile when it is not one, or
    when it holds more than ``limit`` bytes."""
    with open_regular(path, limit) as handle:
        return read_at_most(handle, limit)


def read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """The rest of ``handle``, reading at most ``limit + 1`` bytes; FileTooLarge when the
    extra byte is there."""
    chunks, left = [], limit + 1
    while left > 0:
        chunk = handle.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    if left <= 0:
        raise FileTooLarge(limit)
    return b"".join(chunks)


@contextmanager
def open_regular(path: str | os.PathLike[str], limit: int | None = None
                 ) -> Iterator[BinaryIO]:
    """The regular file at ``path`` opened for binary reading (unbuffered).

    UnreadableFile (MissingFile, NotRegularFile, FileTooLarge when its size already says
    more than ``limit`` bytes) instead of opening anything else.
    """
    try:
        _check(os.stat(path), limit)
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise MissingFile("no such file") from None
    except IsADirectoryError:
        raise NotRegularFile("a directory") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from None
    try:
        _check(os.fstat(fd), limit)  # the file opened is the file checked
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            yield handle
        except OSError as exc:
            raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from None


def _check(status: os.stat_result, limit: int | None) -> None:
    mode = stat.S_IFMT(status.st_mode)
    if mode == stat.S_IFDIR:
        raise NotRegularFile("a directory")
    if mode != stat.S_IFREG:
        raise NotRegularFile(_KINDS.get(mode, "an unusual kind of file"))
    if limit is not None and status.st_size > limit:
        raise FileTooLarge(limit)
