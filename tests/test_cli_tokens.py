"""Tests for the tokenizer commands: tokenizer train/info, tokenize, vocab (through cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinygpt_tui.cli import main
from tinygpt_tui.config import EOT, DataConfig, RunConfig
from tinygpt_tui.shards import prepare_shards, shards_dir
from tinygpt_tui.tokenizer import load_tokenizer

DOCS = ["Once upon a time a cat sat on a mat.", "The dog ran to the park and played.",
        "They were happy, and the sun was warm!"] * 10


@pytest.fixture
def dataset(home) -> Path:
    d = home / "data" / "stories"
    d.mkdir()
    (d / "corpus.txt").write_text("".join(f"{doc}\n{EOT}\n" for doc in DOCS), encoding="utf-8")
    return d


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_tokenize_gpt2_table(gpt2_cache, capsys):
    rc, out, _ = run(capsys, "tokenize", "hello soft", "--kind", "gpt2")
    assert rc == 0
    header = next(line for line in out.splitlines() if "Token ID" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["Token ID", "Token", "Hex"]
    assert "31373" in out and "'hello'" in out and "68 65 6c 6c 6f" in out
    assert "[hello][ soft]" in out
    assert "hello Ġsoft" in out


def test_tokenize_json(gpt2_cache, capsys):
    rc, out, _ = run(capsys, "tokenize", "hello soft", "--json")  # gpt2 is the default
    data = json.loads(out)
    assert rc == 0 and data["count"] == 2
    assert data["tokens"][1] == {"id": 2705, "piece": "Ġsoft", "hex": "20 73 6f 66 74", "text": " soft"}
    assert data["boundaries"] == "[hello][ soft]" and data["pieces"] == "hello Ġsoft"


def test_train_from_dataset_then_info_tokenize_vocab(dataset, capsys):
    rc, out, err = run(capsys, "tokenizer", "train", "--data", "stories", "--vocab-size", "300",
                       "--special", "<|im_start|>", "--json")
    assert rc == 0, err
    info = json.loads(out)
    path = dataset / "corpus.tokenizer.json"
    assert Path(info["path"]).resolve() == path and path.is_file()
    assert info["special_tokens"] == {EOT: 0, "<|im_start|>": 1}

    rc, out, _ = run(capsys, "tokenizer", "info", str(path), "--json")
    assert rc == 0 and json.loads(out)["fingerprint"] == info["fingerprint"]

    rc, out, _ = run(capsys, "tokenize", "--tokenizer", str(path), "the cat<|im_start|>")
    assert rc == 0 and "[<|im_start|>]" in out and "Ġcat" in out

    tok = load_tokenizer(path)
    prepare_shards(dataset / "corpus.txt", tok, shards_dir(dataset, tok), val_fraction=0.1, seed=1)
    rc, out, _ = run(capsys, "vocab", "--tokenizer", str(path), "--data", "stories", "--json", "--top", "3")
    stats = json.loads(out)
    assert rc == 0 and stats["vocab_size"] == tok.vocab_size and len(stats["most_frequent"]) == 3
    assert stats["tokens"] > 0 and stats["bytes_per_token"] > 1

    rc, out, _ = run(capsys, "vocab", "--tokenizer", str(path), "--data", "stories")
    assert rc == 0
    for title in ("Vocabulary", "Token length", "Longest tokens", "Most frequent", "Least frequent"):
        assert title in out


def test_char_tokenizer_from_corpus_and_unknown_character(home, dataset, capsys):
    out_path = home / "char.json"
    rc, _, err = run(capsys, "tokenizer", "train", "--corpus", str(dataset / "corpus.txt"), "--kind", "char",
                     "--out", str(out_path))
    assert rc == 0, err
    assert json.loads(out_path.read_text())["kind"] == "char"
    rc, _, err = run(capsys, "tokenize", "--tokenizer", str(out_path), "a zebra")
    assert rc == 2
    assert "error:" in err and "'z'" in err and "hint:" in err


def test_run_tokenizer(home, dataset, capsys):
    run_dir = home / "models" / "r1"
    run_dir.mkdir()
    assert run(capsys, "tokenizer", "train", "--corpus", str(dataset / "corpus.txt"), "--kind", "char",
               "--out", str(run_dir / "tokenizer.json"))[0] == 0
    rc, out, _ = run(capsys, "tokenizer", "info", "--run", "r1", "--json")
    assert rc == 0 and json.loads(out)["kind"] == "char"
    rc, out, _ = run(capsys, "vocab", "--run", "r1", "--json")
    assert rc == 0 and json.loads(out)["kind"] == "char" and "most_frequent" not in json.loads(out)
    # with a config naming its dataset and shards there, the run's token frequencies are shown
    cfg = RunConfig(name="r1", data=DataConfig(source="storybook", dataset="stories"))
    (run_dir / "config.json").write_text(cfg.to_json())
    tok = load_tokenizer(run_dir / "tokenizer.json")
    prepare_shards(dataset / "corpus.txt", tok, shards_dir(dataset, tok), val_fraction=0.1, seed=1)
    rc, out, _ = run(capsys, "vocab", "--run", "r1", "--json")
    stats = json.loads(out)
    assert rc == 0 and stats["most_frequent"][0]["text"] == " " and stats["never_seen"] == 0
    rc, _, err = run(capsys, "tokenize", "x", "--run", "nope")
    assert rc == 2 and "no run named 'nope'" in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["tokenizer", "train", "--corpus", "missing.txt"], "does not exist"),
        (["tokenizer", "train", "--corpus", "empty.txt"], "is empty"),
        (["tokenizer", "train", "--corpus", "empty.txt", "--vocab-size", "100"], "smaller than the 256-byte"),
        (["tokenizer", "train", "--data", "nope"], "no dataset named 'nope'"),
        (["tokenizer", "info", "corrupt.json"], "corrupt"),
        (["tokenize", "hi", "--tokenizer", "corrupt.json"], "corrupt"),
        (["tokenize", "hi", "--tokenizer", "missing.json"], "no tokenizer file"),
        (["vocab", "--tokenizer", "char.json", "--data", "stories"], "no token shards"),
        (["vocab", "--tokenizer", "char.json", "--top", "-3"], "must be 0 or more"),
        (["tokenizer", "info", "malformed.json"], "malformed"),
    ],
)
def test_errors_reach_the_user(home, dataset, capsys, argv, needle):
    (home / "empty.txt").write_text("")
    (home / "corrupt.json").write_text('{"model": ')
    # a BPE tokenizer.json of the right kind whose added tokens lack their text
    (home / "malformed.json").write_text(json.dumps({
        "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "added_tokens": [{"id": "x"}]}))
    (home / "char.json").write_text(json.dumps({"kind": "char", "chars": list("abc"), "special_tokens": [EOT]}))
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert needle in err and "hint:" in err
    assert "Traceback" not in err and out == ""


def test_the_offline_hint_of_tokenize_names_options_tokenize_takes(home, capsys, monkeypatch):
    import tiktoken

    from tinygpt_tui import tokenizer

    def offline(name):
        raise ConnectionError("no network")

    tokenizer._gpt2_base.cache_clear()
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    try:
        assert main(["tokenize", "hello"]) != 0
    finally:
        tokenizer._gpt2_base.cache_clear()
    err = capsys.readouterr().err
    assert "could not be loaded" in err and "--kind bpe" not in err.replace("tokenizer train --kind bpe", "")
    assert "--run NAME" in err


def test_vocab_of_a_trained_run_lists_its_most_under_trained_tokens(runs_home, capsys):
    from tinygpt_tui.undertrained import under_trained
    from tinygpt_tui.workbench import Workbench
    from tinygpt_tui.workspace import Workspace

    rc, out, _ = run(capsys, "vocab", "--run", "fixture", "--top", "5", "--json")
    assert rc == 0
    under = json.loads(out)["under_trained"]
    model, _tok, _cfg = Workbench(Workspace(runs_home / "models", runs_home / "data")).read_model("fixture")
    scores = under_trained(model).score
    assert under["tied"] is True and len(under["tokens"]) == 5
    assert [t["score"] for t in under["tokens"]] == pytest.approx(sorted(scores.tolist(), reverse=True)[:5])
    assert all(t["count"] is None and t["head_ratio"] is None for t in under["tokens"])  # no shards; tied
    rc, out, _ = run(capsys, "vocab", "--run", "fixture", "--top", "3")
    assert rc == 0 and "Most under-trained" in out and "geometric mean" in out
    rc, out, _ = run(capsys, "vocab", "--run", "fresh", "--json")  # no weights yet: the tokenizer alone
    assert rc != 0 or "under_trained" not in json.loads(out)


def test_vocab_help_explains_the_under_trained_score(capsys):
    with pytest.raises(SystemExit):
        main(["vocab", "--help"])
    out = capsys.readouterr().out
    assert "under-trained score" in out and "Land & Bartolo" in out


def test_training_again_replaces_the_tokenizer_instead_of_leaving_the_old_one(dataset, capsys):
    first = json.loads(run(capsys, "tokenizer", "train", "--data", "stories", "--vocab-size", "300", "--json")[1])
    (dataset / "corpus.txt").write_text("".join(f"{doc.upper()}\n{EOT}\n" for doc in DOCS), encoding="utf-8")
    rc, out, err = run(capsys, "tokenizer", "train", "--data", "stories", "--vocab-size", "280", "--json")
    assert rc == 0, err
    second = json.loads(out)
    assert second["path"] == first["path"] and second["fingerprint"] != first["fingerprint"]
    files = sorted(p.name for p in dataset.iterdir() if "tokenizer" in p.name)
    assert files == ["corpus.tokenizer.json"]  # one tokenizer, the new one: nothing stale beside it
    assert load_tokenizer(dataset / files[0]).fingerprint() == second["fingerprint"]
    assert not [p for p in dataset.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]  # no leftovers


def test_vocab_histogram_folds_long_tokens_into_one_row(home, capsys):
    from tinygpt_tui.vocab import HISTOGRAM_MAX_BYTES

    # a word repeated often enough becomes one BPE token of 34 bytes, well past the fold
    corpus = home / "long.txt"
    corpus.write_text("".join(f"{doc} supercalifragilisticexpialidocious\n{EOT}\n" for doc in DOCS), encoding="utf-8")
    rc, out, err = run(capsys, "tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "400", "--json")
    assert rc == 0, err
    rc, out, err = run(capsys, "vocab", "--tokenizer", json.loads(out)["path"], "--top", "1")
    assert rc == 0, err
    lines = out[out.index("Token length"):].splitlines()
    labels = [line.split("│")[1].strip() for line in lines if line.count("│") >= 3]
    labels = labels[:labels.index(f"{HISTOGRAM_MAX_BYTES}+") + 1]
    assert all(int(n) < HISTOGRAM_MAX_BYTES for n in labels[:-1])  # no row past the fold
    assert labels[:-1] == sorted(labels[:-1], key=int)


def test_token_tables_show_a_markup_like_token_as_it_is(home, capsys):
    """A token such as ``[/]`` (one pre-token of punctuation, merged by BPE) is shown as text: no
    markup escape backslash in the table, the boundaries or the vocabulary's token tables."""
    corpus = home / "brackets.txt"
    corpus.write_text("".join(f"a[/]b [/] x[/]\n{EOT}\n" for _ in range(200)), encoding="utf-8")
    tok_path = home / "brackets.json"
    assert run(capsys, "tokenizer", "train", "--corpus", str(corpus), "--kind", "bpe", "--vocab-size", "300",
               "--out", str(tok_path))[0] == 0
    rc, out, _ = run(capsys, "tokenize", "--tokenizer", str(tok_path), "[/]")
    assert rc == 0
    assert "'[/]'" in out and "\\[" not in out
    assert "[[/]]" in out  # the boundaries line
    rc, out, _ = run(capsys, "vocab", "--tokenizer", str(tok_path))
    assert rc == 0 and "'[/]'" in out and "\\[" not in out
