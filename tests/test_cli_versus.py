"""``tinygpt versus`` through cli.main: the comparison, its JSON, and bad input as one sentence."""

from __future__ import annotations

import json

import pytest
from fixtures_runs import make_run

from tinygpt_tui.cli import main

TEXT = "The fox met a kind bear."


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def two_runs(runs_home):
    make_run(runs_home / "models", "other", seed=1)
    return runs_home


def test_versus_json_holds_both_runs_per_token(two_runs, capsys):
    rc, out, _ = run(capsys, "versus", "fixture", "other", "--text", TEXT, "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["unit"] == "token" and data["bytes"] == len(TEXT) and len(data["rows"]) == len(TEXT)
    assert "".join(r["text"] for r in data["rows"]) == TEXT
    assert all(r["diff"] == pytest.approx(r["bits_b"] - r["bits_a"]) for r in data["rows"])
    rc, same, _ = run(capsys, "versus", "fixture", "fixture", "--text", TEXT, "--json")
    assert rc == 0 and {r["diff"] for r in json.loads(same)["rows"]} == {0.0}


def test_versus_prints_the_largest_disagreement_first(two_runs, capsys, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(TEXT, encoding="utf-8")
    rc, out, _ = run(capsys, "versus", "fixture", "other", "--file", str(path), "--top", "3")
    assert rc == 0
    assert "Where they disagree most (per token)" in out and "bits per byte" in out
    rc, js, _ = run(capsys, "versus", "fixture", "other", "--file", str(path), "--json")
    rows = json.loads(js)["rows"]
    biggest = max(rows, key=lambda r: (abs(r["diff"]), -r["index"]))
    first_row = next(line for line in out.splitlines() if line.strip().startswith(str(biggest["index"] + 1) + " "))
    assert f"{biggest['diff']:+.2f}" in first_row


@pytest.mark.parametrize("argv, needle", [
    (["versus", "fixture", "nope", "--text", TEXT], "no run named 'nope'"),
    (["versus", "fixture", "fresh", "--text", TEXT], "no trained weights"),
    (["versus", "fixture", "fixture"], "no text"),
    (["versus", "fixture", "fixture", "--file", "missing.txt"], "no file"),
])
def test_versus_errors_are_one_sentence(two_runs, capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and needle in err and "Traceback" not in err
