"""``tinygpt compare`` through cli.main: the table, the chart, --json, and an unknown run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tinygpt_tui import cli, runs

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import make_run  # noqa: E402


def two_runs(home: Path) -> None:
    make_run(home / "models", "alpha")
    d = make_run(home / "models", "beta")
    # beta learned better: its evaluations read lower
    lines = [json.loads(line) for line in (d / runs.METRICS).read_text().splitlines()]
    for e in lines:
        if e["event"] == "eval":
            e["val_bpb"] = round(e["val_bpb"] - 1.0, 4)
    (d / runs.METRICS).write_text("".join(json.dumps(e) + "\n" for e in lines))


def test_compare_prints_a_table_and_a_chart(home, capsys):
    two_runs(home)
    assert cli.main(["compare", "alpha", "beta"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "micro" in out and "27.0k" in out
    assert "validation bits per byte" in out and "tokens seen" in out  # the chart's title and axis


def test_compare_json_has_each_runs_facts(home, capsys):
    two_runs(home)
    assert cli.main(["compare", "alpha", "beta", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    alpha, beta = data["runs"]
    assert (alpha["name"], beta["name"]) == ("alpha", "beta")
    assert beta["best_val_bpb"] == round(alpha["best_val_bpb"] - 1.0, 4)
    assert [p["step"] for p in alpha["val"]] == [25, 50] and alpha["tokens"] == 256 * 50


def test_an_unknown_run_is_one_sentence_with_a_hint(home, capsys):
    make_run(home / "models", "alpha")
    assert cli.main(["compare", "alpha", "ghost"]) == 2
    err = capsys.readouterr().err
    assert "no run named 'ghost'" in err and "Traceback" not in err and "hint" in err.lower()
