"""Crash-safe file writes shared by every module that puts something on disk.

A file is written to a temporary name in the same folder, flushed and fsynced, then renamed over
the target (atomic on POSIX), and the folder is fsynced so the rename itself survives a power cut.
At any instant a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    On any error (KeyboardInterrupt included) the temporary file is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_temp_file(path.parent, path.name)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary readable files
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_create_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path``, whole or not at all; ``FileExistsError`` when ``path``
    exists, even one created an instant before by another process: the finished temporary file is
    hard-linked to its name, which never replaces a file (``os.replace`` would)."""
    path = Path(path)
    tmp = Path(pid_temp_file(path.parent, path.name))
    try:
        os.chmod(tmp, 0o644)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: an exclusive create still never replaces
            with open(path, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        fsync_dir(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc/PID/stat``), or None where
    that cannot be read (no /proc, or no such process). With the pid it names one process: a pid
    reused by a later process has another start time."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
        # the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
        return int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` runs and, when ``start`` is given and can be checked, is the very
    process that started then (not a later one that reused the pid)."""
    if not pid_alive(pid):
        return False
    if start is None:
        return True
    now = process_start(pid)
    return now is None or now == start


def pid_temp_file(folder: Path, stem: str) -> Path:
    """A new empty temporary file ``.{stem}.pid{PID}.*.tmp`` in ``folder``: the writer's pid in its
    name lets :func:`remove_orphaned_temp_files` tell a live writer's file from a killed one's."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{stem}.pid{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


_PID_TEMP = re.compile(r"^\..+\.pid(\d+)\..*\.tmp$")


def remove_orphaned_temp_files(folder: Path) -> int:
    """Delete the temporary files of writers that no longer run (killed with SIGKILL or a power cut);
    those of live writers stay. Returns how many were removed."""
    removed = 0
    if not Path(folder).is_dir():
        return 0
    for p in Path(folder).iterdir():
        m = _PID_TEMP.match(p.name)
        if m and not pid_alive(int(m.group(1))):
            try:
                p.unlink()
                removed += 1
            except OSError:
                pass
    return removed
