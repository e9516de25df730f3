"""``tinygpt timelapse`` through cli.main: the frames table, samples, the heat map, --json, and refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinygpt_tui import cli
from tinygpt_tui.config import SamplingConfig
from tinygpt_tui.timelapse import open_timelapse

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run  # noqa: E402


@pytest.fixture
def lapse_run(home) -> Path:
    return make_run(home / "models", "lapse", history=3)


def test_json_holds_the_frames_samples_and_surprisal(lapse_run, capsys):
    assert cli.main(["timelapse", "--run", "lapse", "--prompt", "Once", "--seed", "5", "--tokens", "10",
                     "--text", "The fox.", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["step"] for f in data["frames"]] == [0, 25, 50] and data["history_bytes"] > 0
    assert [s["step"] for s in data["samples"]] == [0, 25, 50]
    lapse = open_timelapse(lapse_run)
    params = SamplingConfig(**{**vars(lapse.cfg.sampling), "seed": 5, "max_new_tokens": 10, "num_samples": 1,
                               "stop": []})
    assert data["samples"][1]["text"] == lapse.sample(1, "Once", params).text
    surprisal = data["surprisal"]
    assert surprisal["tokens"] == list("The fox.") and surprisal["steps"] == [0, 25, 50]
    expected = lapse.surprisal("The fox.").bits
    assert len(surprisal["bits"]) == len(expected)
    for row, want in zip(surprisal["bits"], expected, strict=True):
        assert row == pytest.approx(want)


def test_the_table_and_heat_map_are_printed(lapse_run, capsys):
    assert cli.main(["timelapse", "--run", "lapse", "--prompt", "Once", "--text", "fox"]) == 0
    out = capsys.readouterr().out
    assert "lapse: 3 checkpoints" in out and "seed 0" in out and "val loss" in out
    assert "step 50" in out and "mean" in out and "█" in out and "surprisal" in out
    rows = [line for line in out.splitlines() if line.startswith(("f ", "o ", "x "))]
    assert len(rows) == 3


def test_a_run_without_history_and_a_missing_run_are_one_sentence(home, capsys):
    make_run(home / "models", "plain")
    assert cli.main(["timelapse", "--run", "plain"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint history" in err and "--more" in err and "Traceback" not in err
    assert cli.main(["timelapse", "--run", "nowhere"]) == 2
    assert "There is no run named 'nowhere'" in capsys.readouterr().err


def test_runs_list_states_the_historys_size(lapse_run, capsys):
    assert cli.main(["runs", "list", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["name"] == "lapse" and row["history"] == 3
    assert row["history_bytes"] == sum(p.stat().st_size for p in (lapse_run / "history").iterdir())
    assert cli.main(["runs", "list"]) == 0
    assert "History" in capsys.readouterr().out
