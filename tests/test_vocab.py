"""vocab.py: a text's token breakdown, vocabulary statistics and token frequencies counted by hand."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import write_corpus

from tinygpt_tui.config import EOT, TokenizerConfig
from tinygpt_tui.shards import prepare_shards, val_mask
from tinygpt_tui.tokenizer_training import train_tokenizer
from tinygpt_tui.vocab import HISTOGRAM_MAX_BYTES, breakdown, count_tokens, histogram_rows, vocab_stats


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    corpus = write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt",
                          ["Once upon a time, a little cat sat on a soft mat.", "The cat was happy."] * 10)
    return train_tokenizer(TokenizerConfig(kind="bpe", vocab_size=300, min_frequency=2), corpus)



def test_breakdown_rows(bpe):
    rows = breakdown(bpe, "The cat 🦜")  # a parrot never seen in training: split into bytes
    assert "".join(r["text"] for r in rows).replace("\ufffd", "") == "The cat "
    assert b"".join(bytes.fromhex(r["hex"].replace(" ", "")) for r in rows) == "The cat 🦜".encode()
    assert all(set(r) == {"id", "piece", "hex", "text"} for r in rows)


def test_vocab_stats_by_hand(tmp_path):
    docs = ["aab", "ba", "éa", "bbb", "a"] * 4
    corpus = write_corpus(tmp_path / "c.txt", docs)
    tok = train_tokenizer(TokenizerConfig(kind="char", special_tokens=[EOT, "<|pad|>"]), corpus)
    assert tok.chars == ["a", "b", "é"]
    stats = vocab_stats(tok)
    assert stats["vocab_size"] == 5
    assert stats["length_histogram"] == {1: 2, 2: 1}  # a, b: one byte; é: two; specials excluded
    assert stats["longest"][0]["text"] == "é"
    assert stats["mean_token_bytes"] == pytest.approx(4 / 3)

    meta = prepare_shards(corpus, tok, tmp_path / "shards", val_fraction=0.2, seed=3)
    to_val = val_mask(3, 0, len(docs), 0.2)
    train_docs = [d for d, v in zip(docs, to_val, strict=True) if not v]
    assert meta["train_documents"] == len(train_docs)
    expected = Counter("".join(train_docs))
    stats = vocab_stats(tok, tmp_path / "shards")
    total = sum(expected.values()) + len(train_docs)
    assert stats["tokens"] == total
    most = stats["most_frequent"]
    assert [(r["text"], r["count"]) for r in most] == sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    assert most[0]["share"] == pytest.approx(most[0]["count"] / total)
    assert stats["special_counts"] == {EOT: len(train_docs), "<|pad|>": 0}
    n_bytes = sum(len(d.encode()) for d in train_docs)
    assert stats["bytes_per_token"] == pytest.approx(n_bytes / sum(expected.values()))
    assert stats["never_seen"] == 0


def test_count_tokens_counts_every_id_in_chunks():
    import numpy as np

    data = np.array([0, 1, 1, 3, 3, 3], dtype=np.uint16)
    assert count_tokens(data, 5, chunk=4).tolist() == [1, 2, 0, 3, 0]


def test_histogram_rows_fold_the_long_tail_into_one_row():
    hist = {n: n * 10 for n in range(1, HISTOGRAM_MAX_BYTES + 5)} | {128: 1}
    rows = histogram_rows(hist)
    assert [label for label, _ in rows] == [str(n) for n in range(1, HISTOGRAM_MAX_BYTES)] + [f"{HISTOGRAM_MAX_BYTES}+"]
    assert sum(c for _, c in rows) == sum(hist.values())  # nothing lost
    assert histogram_rows({2: 1, 1: 3}) == [("1", 3), ("2", 1)]  # short: exact, in order


def test_every_face_shows_the_same_histogram_rows():
    """The CLI, the REPL (render) and the app all show histogram_rows: no face cuts it shorter."""
    from rich.console import Console

    from tinygpt_tui.render_tables import vocab_stats_tables
    from tinygpt_tui.tui.screens.vocab import stats_table

    hist = {n: 100 + n for n in range(1, 21)}
    stats = {"kind": "bpe", "vocab_size": 500, "special_tokens": {EOT: 0}, "length_histogram": hist}
    expected = histogram_rows(hist)

    console = Console(width=400, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    for renderable in vocab_stats_tables(stats):
        console.print(renderable)
    console.print(stats_table(stats))
    text = console.export_text()
    repl_line = next(line for line in text.splitlines() if "length histogram" in line)
    app_line = next(line for line in text.splitlines() if "length histogram" in line and "B:" not in line)
    assert "  ".join(f"{k}B: {v}" for k, v in expected) in repl_line
    assert ", ".join(f"{k}: {v}" for k, v in expected) in app_line
