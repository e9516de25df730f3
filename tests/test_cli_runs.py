"""``tinygpt runs``: list, rename and delete runs from the command line."""

from __future__ import annotations

import io
import json

import pytest

from tinygpt_tui import cli, runs
from tinygpt_tui.presets import preset_config


@pytest.mark.bare_models  # checks everything the models folder holds
def test_runs_list_rename_and_delete(home, capsys, monkeypatch):
    models = home / "models"
    runs.create_run(models, preset_config("micro", "one"))
    runs.create_run(models, preset_config("micro", "two"))
    assert cli.main(["runs", "list", "--json"]) == 0
    assert sorted(json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()) == ["one", "two"]
    assert cli.main(["runs", "rename", "one", "first"]) == 0
    assert "Renamed run 'one' to 'first'." in capsys.readouterr().out
    assert runs.load_run_config(models / "first").name == "first"
    assert cli.main(["runs", "rename", "first", "two"]) == 2
    assert "The name 'two' is taken" in capsys.readouterr().err
    # no terminal to ask and no --yes: refused, nothing removed
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert cli.main(["runs", "delete", "two"]) == 2
    assert "add --yes" in capsys.readouterr().err and runs.run_exists(models / "two")
    assert cli.main(["runs", "delete", "two", "--yes"]) == 0
    assert "Deleted run 'two' (1 files" in capsys.readouterr().out
    assert sorted(p.name for p in models.iterdir()) == ["first"]
    assert cli.main(["runs", "delete", "ghost", "--yes"]) == 2
    assert "There is no run named 'ghost'" in capsys.readouterr().err


def test_runs_delete_asks_on_a_terminal(home, capsys, monkeypatch):
    runs.create_run(home / "models", preset_config("micro", "one"))

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    assert cli.main(["runs", "delete", "one"]) == 1
    assert "Kept run 'one'." in capsys.readouterr().out and runs.run_exists(home / "models" / "one")
    monkeypatch.setattr("sys.stdin", Tty("yes\n"))
    assert cli.main(["runs", "delete", "one"]) == 0
    assert not (home / "models" / "one").exists()
