"""Writing files safely when several processes share a folder (parallel sweeps, one data cache).

* :func:`atomic_write_bytes` writes to a temp file with a *unique* name in the same folder, then renames
  it over the target: a reader sees the old or the new file, never half of one, and two writers never
  share a temp file.
* :func:`file_lock` is an OS-level lock (``fcntl.flock``) on a lock file: the kernel releases it when
  its process dies, so a SIGKILL never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("vggdarts")


_UMASK = os.umask(0)
os.umask(_UMASK)


class Busy(RuntimeError):
    """Another process holds the lock (raised only when not waiting)."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


@contextmanager
def file_lock(path: str | os.PathLike, wait: bool = True, what: str = ""):
    """Hold an exclusive lock on ``path`` (created if missing) for the block.

    ``wait=False`` raises :class:`Busy` at once if another process holds it; ``wait=True`` logs
    one line and blocks until it is free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            if not wait:
                raise Busy(f"{what or path.parent} is in use by another process (pid {holder})") from None
            log.info("%s is in use by another process (pid %s); waiting for it", what or path.parent, holder)
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")  # who holds it: for people, and for tests that kill the holder
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
