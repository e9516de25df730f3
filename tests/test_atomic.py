"""Crash-safe writes and the sweep of temporary files that killed writers leave behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tinygpt_tui.atomic import (
    atomic_create_bytes,
    atomic_path,
    atomic_write_text,
    pid_alive,
    pid_temp_file,
    remove_orphaned_temp_files,
)


def test_atomic_write_replaces_whole_files(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_creating_never_replaces_a_file_even_one_that_appears_meanwhile(tmp_path):
    path = tmp_path / "new.json"
    atomic_create_bytes(path, b"mine")
    assert path.read_bytes() == b"mine"
    with pytest.raises(FileExistsError):
        atomic_create_bytes(path, b"theirs")
    assert path.read_bytes() == b"mine" and [p.name for p in tmp_path.iterdir()] == ["new.json"]


def test_the_save_race_keeps_the_file_that_won(tmp_path, monkeypatch):
    """A file created between /save's existence check and its write is kept, and the user is told."""
    from tinygpt_tui import atomic, tables
    from tinygpt_tui.config import TinyGPTError

    path = tmp_path / "t.json"
    real = atomic.atomic_create_bytes

    def racing(target, data):
        target.write_text("written meanwhile")  # another process wins the race
        real(target, data)

    monkeypatch.setattr(tables, "atomic_create_bytes", racing)
    with pytest.raises(TinyGPTError, match="already exists"):
        tables.write_table(path, [{"a": 1}])
    assert path.read_text() == "written meanwhile" and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_orphaned_temp_files_are_swept_and_live_writers_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    assert not pid_alive(dead_pid)
    orphan = tmp_path / f".train.bin.pid{dead_pid}.abc123.tmp"
    orphan.write_bytes(b"x" * 100)
    mine = pid_temp_file(tmp_path, "train.bin")  # this (live) process's own temp file
    unrelated = tmp_path / "corpus.txt"
    unrelated.write_text("keep")
    assert remove_orphaned_temp_files(tmp_path) == 1
    assert not orphan.exists() and mine.exists() and unrelated.exists()
    assert remove_orphaned_temp_files(tmp_path / "missing") == 0
