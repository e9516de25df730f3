"""Renaming and deleting runs: whole folders of ``models/``, never half of one.

Both take the run's training lock (:func:`runs.acquire_lock`) for as long as they work on it, so a
trainer can neither be running nor start meanwhile; a run being trained is refused with one sentence.

- **Rename** moves the folder with one ``os.rename`` inside the models folder (atomic on POSIX), then
  rewrites ``config.json`` with the new name (atomically). A crash between the two leaves a config
  naming the old run, which :func:`runs.load_run_config` already reads under the folder's name.
- **Delete** first renames the folder aside to a hidden name (``.deleted-NAME.pidPID.XXXX``), which
  no listing shows and no run name can take, then removes it. An interruption during the removal
  leaves only that hidden folder, never a half-deleted run that still looks valid; the next delete
  removes such leftovers of processes that are gone.

A run folder that is a symbolic link is refused: nothing here follows a link out of the models folder
(``shutil.rmtree`` itself never follows links inside the folder it removes).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .atomic import fsync_dir, pid_alive
from .config import TinyGPTError, valid_run_name

_DELETED = re.compile(r"^\.deleted-.+\.pid(\d+)\.[0-9a-f]+$")


@dataclass(frozen=True)
class Footprint:
    """What a run folder holds on disk: its files and their bytes (links counted, never followed)."""

    files: int
    bytes: int


def run_folder(models: Path, name: str) -> Path:
    """The folder of existing run ``name``: a real folder directly under ``models`` (TinyGPTError for a
    bad name, a missing run, or a link)."""
    folder = runs.run_dir(Path(models), name)  # checks the name: no '/', no '..', no leading dot
    if folder.is_symlink():
        raise TinyGPTError(f"Run '{name}' is a link to {os.readlink(folder)}, not a folder of {models}.",
                           "remove or rename the link itself; runs are never followed out of the models folder.")
    if not runs.run_exists(folder):
        raise TinyGPTError(f"There is no run named '{name}' in {models}.",
                           "check the name: the runs screen, /load or `tinygpt runs list` lists them.")
    return folder


def footprint(folder: Path) -> Footprint:
    """Files and bytes under ``folder``, without following links."""
    files = size = 0
    for root, _dirs, names in os.walk(folder, followlinks=False):
        for n in names:
            try:
                size += os.lstat(os.path.join(root, n)).st_size
                files += 1
            except OSError:  # removed while counted
                pass
    return Footprint(files, size)


def _take(folder: Path, name: str, doing: str) -> None:
    """Take the run's training lock for this process, or say in one sentence that it is training."""
    try:
        runs.acquire_lock(folder)
    except TinyGPTError:
        raise TinyGPTError(f"Run '{name}' is being trained right now, so it cannot be {doing}.",
                           "stop its training first (x on its training screen, /stop, or Ctrl-C where it "
                           "runs), then try again.") from None


def rename_run(models: Path, old: str, new: str) -> Path:
    """Rename run ``old`` to ``new`` (a valid name no file or folder of ``models`` has); returns the new
    folder. Refused while the run is trained."""
    models = Path(models)
    if not valid_run_name(new):
        raise TinyGPTError(f"'{new}' is not a valid run name.",
                           "use letters, digits, '-', '_' or '.', starting with a letter or digit (64 at most).")
    src = run_folder(models, old)
    if new == old:
        raise TinyGPTError(f"Run '{old}' already has that name.", "give it a different one.")
    dst = models / new
    if os.path.lexists(dst):
        raise TinyGPTError(f"The name '{new}' is taken: {dst} already exists.", "pick another name.")
    try:  # read before moving: the config is rewritten under the new name once the folder has moved
        cfg = runs.load_run_config(src)
    except TinyGPTError:
        cfg = None  # an unreadable config is renamed as it is (the listing says what is wrong with it)
    _take(src, old, "renamed")
    try:
        os.rename(src, dst)
    except BaseException:
        runs.release_lock(src)
        raise
    try:
        fsync_dir(models)
        if cfg is not None:
            cfg.name = new
            runs.save_run_config(dst, cfg)
    finally:
        runs.release_lock(dst)
    return dst


def delete_run(models: Path, name: str) -> Footprint:
    """Delete run ``name`` and everything in its folder; returns what was removed. Refused while the
    run is trained."""
    models = Path(models)
    folder = run_folder(models, name)
    sweep_deleted(models)
    size = footprint(folder)
    _take(folder, name, "deleted")
    aside = models / f".deleted-{name}.pid{os.getpid()}.{secrets.token_hex(4)}"
    try:
        os.rename(folder, aside)  # from here on the run is gone from every listing, whole
    except BaseException:
        runs.release_lock(folder)
        raise
    fsync_dir(models)
    # a failure while removing the files leaves only the hidden folder, which sweep_deleted removes
    shutil.rmtree(aside, ignore_errors=True)
    return size


def sweep_deleted(models: Path) -> int:
    """Remove what deletions interrupted before they finished (hidden ``.deleted-*`` folders of
    processes that no longer run); returns how many were removed."""
    removed = 0
    try:
        entries = list(Path(models).iterdir())
    except OSError:
        return 0
    for p in entries:
        m = _DELETED.match(p.name)
        if m and not p.is_symlink() and p.is_dir() and not pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed += 0 if p.exists() else 1
    return removed
