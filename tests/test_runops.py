"""runops.py: renaming and deleting runs, whole or not at all, never while they train."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tinygpt_tui import runops, runs
from tinygpt_tui.config import TinyGPTError
from tinygpt_tui.presets import preset_config

pytestmark = pytest.mark.bare_models  # the tests check everything the models folder holds


def make(models: Path, name: str) -> Path:
    """A run with a config and a few files of its own."""
    d = runs.create_run(models, preset_config("micro", name))
    (d / runs.METRICS).write_text('{"event": "step", "step": 1, "loss": 2.5}\n', encoding="utf-8")
    (d / runs.WEIGHTS).write_bytes(b"\x00" * 1000)
    return d


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def live_lock():
    """Write a training lock held by a live process into a run folder (as a trainer elsewhere would)."""
    procs = []

    def hold(run: Path) -> int:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        procs.append(proc)
        (run / runs.LOCK).write_text(json.dumps({"pid": proc.pid, "started": 0}))
        return proc.pid

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_rename_moves_every_file_and_rewrites_the_config_name(home):
    models = home / "models"
    before = snapshot(make(models, "old"))
    new = runops.rename_run(models, "old", "new.v2")
    assert new == models / "new.v2" and not (models / "old").exists()
    after = snapshot(new)
    assert set(after) == set(before)  # no lock left behind, nothing added
    assert all(after[n] == before[n] for n in before if n != runs.CONFIG)
    assert json.loads(after[runs.CONFIG])["name"] == "new.v2"
    assert [r.name for r in runs.list_runs(models)] == ["new.v2"]


@pytest.mark.parametrize("new, message", [
    ("../escape", "is not a valid run name"), ("a/b", "is not a valid run name"), (".hidden", "is not a valid run name"),
    ("", "is not a valid run name"), ("old", "already has that name"), ("other", "is taken"),
    ("a-file", "is taken"), ("a-link", "is taken"),
])
def test_rename_refuses_bad_and_taken_names_and_touches_nothing(home, new, message):
    models = home / "models"
    before = snapshot(make(models, "old"))
    make(models, "other")
    (models / "a-file").write_text("not a run")
    (models / "a-link").symlink_to(home)
    with pytest.raises(TinyGPTError, match=message):
        runops.rename_run(models, "old", new)
    assert snapshot(models / "old") == before
    assert sorted(p.name for p in models.iterdir()) == ["a-file", "a-link", "old", "other"]


def test_rename_and_delete_refuse_a_missing_run(home):
    with pytest.raises(TinyGPTError, match="no run named 'ghost'"):
        runops.rename_run(home / "models", "ghost", "spirit")
    with pytest.raises(TinyGPTError, match="no run named 'ghost'"):
        runops.delete_run(home / "models", "ghost")
    (home / "models" / "empty").mkdir()  # a folder without config.json is not a run
    with pytest.raises(TinyGPTError, match="no run named 'empty'"):
        runops.delete_run(home / "models", "empty")
    assert (home / "models" / "empty").is_dir()


def test_a_run_being_trained_is_neither_renamed_nor_deleted(home, live_lock):
    models = home / "models"
    run = make(models, "busy")
    live_lock(run)
    before = snapshot(run)
    for act in (lambda: runops.rename_run(models, "busy", "calm"), lambda: runops.delete_run(models, "busy")):
        with pytest.raises(TinyGPTError, match="being trained right now") as e:
            act()
        assert "stop" in e.value.hint
    assert snapshot(run) == before and not (models / "calm").exists()


def test_delete_removes_the_whole_folder_and_says_what_it_held(home):
    models = home / "models"
    run = make(models, "doomed")
    keep = make(models, "keep")
    expected = runops.footprint(run)
    assert expected.files == 3 and expected.bytes == sum(len(b) for b in snapshot(run).values())
    assert runops.delete_run(models, "doomed") == expected
    assert sorted(p.name for p in models.iterdir()) == ["keep"]  # nothing hidden left either
    assert runs.run_exists(keep)


def test_links_are_never_followed_out_of_the_models_folder(home, tmp_path_factory):
    models = home / "models"
    outside = tmp_path_factory.mktemp("outside")
    target = make(outside, "elsewhere")
    (outside / "precious.txt").write_text("keep me")
    (models / "linked").symlink_to(target)
    for act in (lambda: runops.delete_run(models, "linked"), lambda: runops.rename_run(models, "linked", "x")):
        with pytest.raises(TinyGPTError, match="is a link to"):
            act()
    assert runs.run_exists(target) and (models / "linked").is_symlink()
    # a link inside a run is removed as a link: what it points to stays
    run = make(models, "with-link")
    (run / "data").symlink_to(outside)
    runops.delete_run(models, "with-link")
    assert (outside / "precious.txt").read_text() == "keep me" and runs.run_exists(target)


def test_an_interrupted_delete_never_leaves_a_run_that_looks_valid(home, monkeypatch):
    models = home / "models"
    make(models, "half")

    def interrupted(path, ignore_errors=False):
        (Path(path) / runs.WEIGHTS).unlink()  # part of the files went, then the interruption came
        raise KeyboardInterrupt

    monkeypatch.setattr(runops.shutil, "rmtree", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runops.delete_run(models, "half")
    monkeypatch.undo()
    assert runs.list_runs(models) == [] and not (models / "half").exists()
    [left] = list(models.iterdir())
    assert left.name.startswith(".deleted-half.pid")
    # this process still runs, so its leftover is not swept; one of a process that is gone is
    assert runops.sweep_deleted(models) == 0
    orphan = models / f".deleted-half.pid{dead_pid()}.abcd"
    left.rename(orphan)
    make(models, "next")
    runops.delete_run(models, "next")  # a delete sweeps the leftovers of earlier ones
    assert list(models.iterdir()) == []


def test_an_interrupted_rename_leaves_a_run_read_under_its_new_name(home, monkeypatch):
    models = home / "models"
    make(models, "old")

    def crash(run, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(runops.runs, "save_run_config", crash)
    with pytest.raises(KeyboardInterrupt):
        runops.rename_run(models, "old", "new")
    monkeypatch.undo()
    assert runs.load_run_config(models / "new").name == "new"  # the folder names the run
    assert not (models / "new" / runs.LOCK).exists() and not (models / "old").exists()


def test_an_unreadable_run_can_still_be_renamed_and_deleted(home):
    models = home / "models"
    run = make(models, "broken")
    (run / runs.CONFIG).write_text("{ not json")
    runops.rename_run(models, "broken", "broken2")
    assert (models / "broken2" / runs.CONFIG).read_text() == "{ not json"
    runops.delete_run(models, "broken2")
    assert list(models.iterdir()) == []
