"""workspace.py: the two folders, read from flags or the environment at the entry points only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tinygpt_tui.workspace import Workspace


def test_flags_beat_the_environment_which_beats_the_defaults():
    env = {"TINYGPT_MODELS": "/m", "TINYGPT_DATA": "/d"}
    assert Workspace.from_env(environ={}) == Workspace(Path("models"), Path("data"))
    assert Workspace.from_env(environ=env) == Workspace(Path("/m"), Path("/d"))
    assert Workspace.from_env("runs", None, environ=env) == Workspace(Path("runs"), Path("/d"))
    assert Workspace.from_env(None, "sets", environ=env) == Workspace(Path("/m"), Path("sets"))
    assert Workspace.from_env(environ={"TINYGPT_MODELS": ""}).models == Path("models")  # empty: unset


def test_a_workspace_is_a_frozen_value_of_paths(home):
    ws = Workspace("models", "data")  # type: ignore[arg-type]
    assert isinstance(ws.models, Path) and ws == Workspace(Path("models"), Path("data"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ws.models = Path("x")  # type: ignore[misc]
    assert ws.resolved() == Workspace(home / "models", home / "data")
    assert ws.as_args() == ["--models-dir", "models", "--data-dir", "data"]
