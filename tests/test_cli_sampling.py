"""``tinygpt generate``, ``score`` and ``demo`` through cli.main, on a micro run built in the test."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest
import torch

from tinygpt_tui import checkpoint, runs
from tinygpt_tui.cli import main
from tinygpt_tui.model import GPT
from tinygpt_tui.presets import preset_config
from tinygpt_tui.tokenizer import CharTokenizer

torch.set_num_threads(1)
CHARS = "abcdefghijklmnopqrstuvwxyz .,\n"

MODELS = Path("models")  # tests run in ``home`` (conftest): its models/ folder


def make_run(name: str = "tiny", seed: int = 0, weights: bool = True):
    """A run in the on-disk layout: config.json, a char tokenizer and random micro-GPT weights."""
    tok = CharTokenizer(list(CHARS))
    cfg = preset_config("micro", name=name, overrides={"tokenizer": {"kind": "char"},
                                                      "model": {"vocab_size": tok.vocab_size}})
    d = runs.create_run(MODELS, cfg)
    tok.save(d / runs.TOKENIZER)
    if weights:
        torch.manual_seed(seed)
        checkpoint.save_weights(d / runs.WEIGHTS, GPT(cfg.model), step=0)
    return d


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_generate_prints_the_prompt_and_its_continuation(home, capsys):
    make_run()
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "once upon", "--tokens", "12",
                           "--seed", "3")
    assert rc == 0, err
    assert out.startswith("once upon") and len(out.strip()) > len("once upon")


def test_generate_json_lines_one_object_per_sample_and_a_seed_reproduces(home, capsys):
    make_run()
    args = ["generate", "--run", "tiny", "--prompt", "the cat", "--tokens", "10", "--samples", "2",
            "--seed", "5", "--temperature", "1.0", "--top-k", "0", "--top-p", "1", "--json"]
    rc, out, err = run_cli(capsys, *args)
    assert rc == 0, err
    objs = [json.loads(line) for line in out.splitlines()]
    assert [o["sample"] for o in objs] == [0, 1] and [o["seed"] for o in objs] == [5, 6]
    for o in objs:
        recs = o["records"]
        assert 1 <= len(recs) <= 10 and o["text"] == "".join(r["text"] for r in recs)
        assert o["params"]["temperature"] == 1.0 and o["prompt"] == "the cat"
        r = recs[0]
        assert math.isclose(r["prob"], math.exp(r["logprob"]), rel_tol=1e-6)
        assert bytes.fromhex(r["bytes"]).decode() == r["display"] and len(r["alternatives"]) == 5
        assert r["cut_mass"] == 0.0  # no filters were on
    rc, again, _ = run_cli(capsys, *args)
    assert again == out


def test_generate_show_all_has_every_view(home, capsys):
    make_run()
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "ab c", "--tokens", "4",
                           "--seed", "1", "--show", "all")
    assert rc == 0, err
    for heading in ("Token ID", "Token", "Hex", "61", "Token boundaries", "[a][b][ ][c]", "Pieces",
                    "Per token", "Top alternatives", "seed 1", "4 tokens"):
        assert heading in out, heading
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "ab", "--tokens", "3",
                           "--seed", "1", "--show", "pieces,hex")
    assert rc == 0 and "Pieces" in out and "Bytes (hex)" in out and "Token boundaries" not in out


def test_generate_stop_string_and_greedy_are_honoured(home, capsys):
    make_run()
    base = ["generate", "--run", "tiny", "--prompt", "a", "--tokens", "30", "--temperature", "0", "--json"]
    rc, out, _ = run_cli(capsys, *base)
    greedy = json.loads(out)
    assert all(r["rank"] == 1 for r in greedy["records"])
    rc, again, _ = run_cli(capsys, *base, "--seed", "99")
    assert json.loads(again)["text"] == greedy["text"]  # greedy ignores the seed
    if len(greedy["text"]) >= 3:  # stop at a string the greedy output is known to contain
        stop = greedy["text"][1:3]
        rc, out, _ = run_cli(capsys, *base, "--stop", stop)
        stopped = json.loads(out)
        assert stopped["finish"] == "stop" and stopped["text"].endswith(stop)
        assert stop not in stopped["text"][:-1]


def test_user_errors_are_one_sentence_and_exit_2(home, capsys):
    make_run()
    rc, _, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "ÄÖ")
    assert rc == 2 and "error:" in err and "cannot represent" in err
    rc, _, err = run_cli(capsys, "generate", "--run", "nosuch")
    assert rc == 2 and "There is no run named 'nosuch'" in err
    rc, _, err = run_cli(capsys, "generate", "--run", "tiny", "--temperature", "-1")
    assert rc == 2 and "temperature -1.0 is out of range" in err
    rc, _, err = run_cli(capsys, "generate", "--run", "tiny", "--show", "colours")
    assert rc == 2 and "Unknown view 'colours'" in err
    rc, _, err = run_cli(capsys, "score", "--run", "tiny")
    assert rc == 2 and "no text to score" in err
    rc, _, err = run_cli(capsys, "score", "--run", "tiny", "--file", "missing.txt")
    assert rc == 2 and "There is no file missing.txt" in err


def test_without_runs_the_message_suggests_training(home, capsys):
    for argv in (["generate"], ["demo"], ["score", "abc"]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and "There are no runs" in err and "tinygpt train --run quick --preset tiny" in err
    make_run("empty", weights=False)
    rc, _, err = run_cli(capsys, "generate")
    assert rc == 2 and "has trained weights" in err


def test_score_shows_bits_per_byte_and_json_agrees(home, capsys):
    make_run()
    rc, out, err = run_cli(capsys, "score", "--run", "tiny", "hello world", "--table")
    assert rc == 0, err
    assert "hello world" in out and "bits per byte" in out and "Per token" in out
    rc, out, _ = run_cli(capsys, "score", "--run", "tiny", "hello world", "--json")
    d = json.loads(out)
    assert d["tokens"] == 11 and d["bytes"] == 11 and len(d["records"]) == 11
    total = sum(r["surprisal_bits"] for r in d["records"])
    assert math.isclose(d["bits_per_byte"], total / 11, rel_tol=1e-9)
    # a random model is close to uniform over the vocabulary
    assert abs(d["bits_per_byte"] - math.log2(len(CHARS) + 1)) < 0.5
    (home / "t.txt").write_text("hello world", encoding="utf-8")
    rc, out, _ = run_cli(capsys, "score", "--run", "tiny", "--file", "t.txt", "--json")
    assert json.loads(out)["bits_per_byte"] == d["bits_per_byte"]


def test_demo_and_the_default_run_pick_the_most_recently_updated(home, capsys, monkeypatch):
    old = make_run("older", seed=1)
    new = make_run("newer", seed=2)
    past = time.time() - 1000
    for f in old.iterdir():
        os.utime(f, (past, past))
    started = {}

    class FakeRepl:
        def __init__(self, run=None, which="best", workbench=None):
            started.update(run=run, which=which)

        def run(self):
            return 0

    monkeypatch.setattr("tinygpt_tui.repl.Repl", FakeRepl)
    rc, _, err = run_cli(capsys, "demo")
    assert rc == 0, err
    assert started == {"run": "newer", "which": "best"}
    rc, _, _ = run_cli(capsys, "demo", "--run", "older", "--checkpoint", "latest")
    assert started == {"run": "older", "which": "latest"}
    rc, out, _ = run_cli(capsys, "generate", "--tokens", "2", "--seed", "0", "--json")
    assert json.loads(out)["run"] == "newer" and new.is_dir()


@pytest.mark.parametrize("show", ["text", "boundaries", "probs"])
def test_each_view_runs_alone(home, capsys, show):
    make_run()
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "ab", "--tokens", "3", "--seed", "2",
                           "--show", show)
    assert rc == 0, err
    # each view really shows the three sampled tokens (the seed fixes them: '.', 'c', 'g')
    lines = [line for line in out.splitlines() if line.strip()]
    if show == "text":
        assert lines == ["ab.cg"]
    elif show == "boundaries":
        assert lines[0] == "Token boundaries" and lines[1] == "[a][b][.][c][g]"
    else:
        stacked = "Bytes and top alternatives"  # under 100 columns the rows come twice: numbers first
        titles = [i for i, line in enumerate(lines) if line.strip() == stacked]
        numbers = lines[:titles[0]] if titles else lines
        rows = [line.split() for line in numbers if line.split()[:1] in (["1"], ["2"], ["3"])]  # from 1
        assert [r[1] for r in rows] == ["'.'", "'c'", "'g'"]
        assert all(r[2].endswith("%") and float(r[3]) < 0 for r in rows)  # P and ln P


def test_repeated_window_notes_are_said_once_with_a_count():
    from types import SimpleNamespace

    from tinygpt_tui.render import summary_line

    slid = "context full: window slid to the last 24 tokens"
    recs = [SimpleNamespace(index=i, note=slid if i in (9, 18, 27) else "", finish=None,
                            surprisal_bits=1.0) for i in range(30)]
    recs[-1].finish = "length"
    text = summary_line(recs).plain
    assert text.count(slid) == 1 and f"note (3 times, first at token 10): {slid}" in text
    assert text.startswith("30 tokens, reached the token limit, mean surprisal 1.00 bits")


def test_generate_output_writes_the_samples_whole(home, capsys):
    """--output FILE keeps what was printed: each sample (prompt and text) in the corpus format, or
    the JSON lines with --json; a path that cannot be written is one sentence."""
    import json as _json

    from tinygpt_tui.config import EOT

    make_run()
    base = ["generate", "--run", "tiny", "--prompt", "once", "--tokens", "8", "--seed", "3", "--samples", "2"]
    rc, out, err = run_cli(capsys, *base, "--output", str(home / "s.txt"))
    assert rc == 0, err
    samples = (home / "s.txt").read_text(encoding="utf-8").split(f"\n{EOT}\n")
    assert samples[-1] == "" and len(samples) == 3
    assert all(s.startswith("once") and len(s) > len("once") for s in samples[:2])
    assert "wrote 2 sample(s)" in err
    rc, out, err = run_cli(capsys, *base, "--json", "--output", str(home / "s.jsonl"))
    lines = (home / "s.jsonl").read_text(encoding="utf-8").splitlines()
    assert rc == 0 and [_json.loads(x)["text"] for x in lines] == [_json.loads(x)["text"] for x in out.splitlines()]
    rc, out, err = run_cli(capsys, *base, "--output", str(home / "s.txt" / "inside-a-file.txt"))
    assert rc == 2 and "Traceback" not in err and "s.txt" in err


# --------------------------------------------------------------------------------------------------
# Small screens (issue 9)


def _records(capsys, *extra: str) -> list[dict]:
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--json", *extra)
    assert rc == 0, err
    return [r for line in out.splitlines() for r in json.loads(line)["records"]]


@pytest.mark.parametrize("columns", [120, 80, 60])
def test_the_per_token_table_keeps_every_column_on_a_narrow_terminal(home, capsys, monkeypatch, columns):
    make_run()
    args = ("--prompt", "ab c", "--tokens", "6", "--seed", "1")
    records = _records(capsys, *args)
    monkeypatch.setenv("COLUMNS", str(columns))
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", *args, "--show", "probs")
    assert rc == 0, err
    for header in ("Token", "Hex", "P", "ln P", "Bits", "H", "Rank", "P samp", "Top alternatives"):
        assert any(header in line.split("  ") or f" {header} " in f" {line} " for line in out.splitlines()), header
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()[:1].isdigit()}
    for r in records:  # every token's hex is shown somewhere, in a row of its own number
        assert any(line.split()[0] == str(r["index"] + 1) and f" {r['hex']} " in f" {line} "
                   for line in out.splitlines() if line.strip()), r["index"]
    assert rows and all(len(line) <= columns for line in out.splitlines())


@pytest.mark.parametrize("columns", [80, 60])
def test_an_alternative_is_never_split_across_lines(home, capsys, monkeypatch, columns):
    make_run()
    args = ("--prompt", "ab c", "--tokens", "8", "--seed", "2", "--alternatives", "8")
    records = _records(capsys, *args)
    monkeypatch.setenv("COLUMNS", str(columns))
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", *args, "--show", "probs")
    assert rc == 0, err
    lines = out.splitlines()
    for r in records:
        for a in r["alternatives"]:
            quoted = repr(a["text"])
            label = quoted if len(quoted) <= 16 else quoted[:14] + "…" + quoted[-1]
            assert any(label + " " in line for line in lines), label  # the label and its % stay together
            assert any(f"{label} {a['prob'] * 100:.1f}%" in line for line in lines if a["prob"] >= 0.001)


def test_token_boundaries_wrap_between_tokens_only(home, capsys, monkeypatch):
    make_run()
    monkeypatch.setenv("COLUMNS", "21")
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", "--prompt", "a b c d e f g h i j k l", "--tokens",
                           "12", "--seed", "4", "--show", "boundaries")
    assert rc == 0, err
    lines = out.splitlines()
    body = lines[lines.index("Token boundaries") + 1:]
    body = body[:next(i for i, line in enumerate(body) if line.startswith("colour"))]
    assert len(body) > 1  # it did wrap
    for line in body:  # each line holds whole [tokens]: it starts and ends at a bracket
        assert line.rstrip().startswith("[") and line.rstrip().endswith("]"), line
    assert "".join(line.rstrip() for line in body).startswith("[a][ ][b][ ][c]")


@pytest.mark.parametrize("view, prompt_part", [("pieces", "a b Ġ c "), ("boundaries", "[a][b][ ][c]"),
                                               ("hex", "61 | 62 | 20 | 63 | ")])
def test_every_token_view_starts_with_the_prompt_tokens(home, capsys, view, prompt_part):
    make_run()
    args = ("--prompt", "ab c", "--tokens", "5", "--seed", "1")
    records = _records(capsys, *args)
    rc, out, err = run_cli(capsys, "generate", "--run", "tiny", *args, "--show", view)
    assert rc == 0, err
    generated = {"pieces": " ".join(r["piece"] for r in records),
                 "boundaries": "".join(f"[{r['display']}]" for r in records),
                 "hex": " | ".join(r["hex"] for r in records)}[view]
    assert prompt_part + generated in out.replace("\n", "" if view == "boundaries" else "\n")


def test_readable_is_the_story_then_its_token_boundaries(home, capsys):
    make_run()
    args = ("--prompt", "ab c", "--tokens", "6", "--seed", "1")
    rc, readable, err = run_cli(capsys, "generate", "--run", "tiny", *args, "--readable")
    assert rc == 0, err
    rc, shown, _ = run_cli(capsys, "generate", "--run", "tiny", *args, "--show", "text,boundaries")
    assert readable == shown and "Token boundaries" in readable and "[a][b][ ][c]" in readable
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = capsys.readouterr().out
    assert "--readable" in out and "text,boundaries" in " ".join(out.split())
