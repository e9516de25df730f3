"""versus.py: two runs on one text, per token when the tokenizers match, per byte (words) when not."""

from __future__ import annotations

import pytest
import torch
from conftest import write_corpus
from fixtures_runs import TEXT, make_run

from tinygpt_tui.config import ModelConfig, TinyGPTError, TokenizerConfig
from tinygpt_tui.model import GPT
from tinygpt_tui.records import TokenRecord
from tinygpt_tui.tokenizer_training import train_tokenizer
from tinygpt_tui.versus import byte_bits, versus, words
from tinygpt_tui.workbench import Workbench

SENTENCE = "The fox met a kind bear.  One day"


@pytest.fixture
def bench(home, workspace):
    make_run(workspace.models)
    make_run(workspace.models, "twin")  # the same seed: the same weights under another name
    make_run(workspace.models, "other", seed=1)
    return Workbench(workspace)


def test_identical_runs_differ_by_nothing(bench):
    result = bench.versus("twin", SENTENCE, run_a="fixture")
    assert result.unit == "token" and len(result.rows) == len(SENTENCE)  # a character tokenizer
    assert [r.diff for r in result.rows] == [0.0] * len(result.rows)
    assert result.bits_per_byte_a == result.bits_per_byte_b > 0
    assert "".join(r.text for r in result.rows) == SENTENCE


def test_different_weights_list_the_largest_disagreement_first(bench):
    bench.load("fixture")
    result = bench.versus("other", SENTENCE)  # the loaded run against another
    assert result.run_a == "fixture" and result.run_b == "other"
    alone_a, alone_b = bench.score(SENTENCE), Workbench(bench.workspace)
    alone_b.load("other")
    assert [r.bits_a for r in result.rows] == [r.surprisal_bits for r in alone_a.records]
    assert [r.bits_b for r in result.rows] == [r.surprisal_bits for r in alone_b.score(SENTENCE).records]
    ordered = [abs(r.diff) for r in result.by_disagreement()]
    assert ordered == sorted(ordered, reverse=True) and ordered[0] > 0


def test_different_tokenizers_cover_every_byte_exactly_once(bench, tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", TEXT.splitlines() * 20)
    bpe = train_tokenizer(TokenizerConfig(kind="bpe", vocab_size=300, min_frequency=2), corpus)
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=bpe.vocab_size, n_layer=1, n_head=2, n_embd=16, block_size=64))
    fixture, char_tok, _ = bench.read_model("fixture")
    result = versus(SENTENCE, ("fixture", fixture, char_tok), ("bpe", model, bpe))
    assert result.unit == "word" and result.tokens_a != result.tokens_b
    data = SENTENCE.encode()
    assert "".join(r.text for r in result.rows) == SENTENCE
    assert [r.start for r in result.rows] == [sum(r.bytes for r in result.rows[:i]) for i in range(len(result.rows))]
    assert sum(r.bytes for r in result.rows) == len(data) == result.bytes
    # no bit is lost or counted twice: each side's words add up to its bits per byte
    for bits, bpb in ((sum(r.bits_a for r in result.rows), result.bits_per_byte_a),
                      (sum(r.bits_b for r in result.rows), result.bits_per_byte_b)):
        assert bits / len(data) == pytest.approx(bpb)


def test_words_tile_the_text_and_its_bytes():
    text = " héllo  wörld\n\tend  "
    spans = words(text)
    assert [w for w, _, _ in spans] == [" héllo", "  wörld", "\n\tend", "  "]
    assert spans[0][1] == 0 and spans[-1][2] == len(text.encode())
    assert all(a[2] == b[1] for a, b in zip(spans, spans[1:], strict=False))


def _record(data: bytes, bits: float) -> TokenRecord:
    return TokenRecord(index=0, sample=0, id=0, bytes=data, piece="", hex="", text="", display="", prob=0.0,
                       logprob=0.0, prob_sampled=0.0, surprisal_bits=bits, entropy_bits=0.0, rank=1)


def test_byte_bits_spread_each_token_over_its_bytes():
    recs = [_record(b"a ", 4.0), _record(b"", 1.0), _record("é".encode(), 3.0)]
    assert byte_bits(recs, "a é".encode()).tolist() == [2.0, 2.0, 2.0, 2.0]
    with pytest.raises(TinyGPTError, match="byte for byte"):
        byte_bits(recs, b"a e")


def test_no_text_or_an_unknown_run_is_one_sentence(bench):
    with pytest.raises(TinyGPTError, match="no text"):
        bench.versus("twin", "", run_a="fixture")
    with pytest.raises(TinyGPTError, match="no run named 'nope'"):
        bench.versus("nope", SENTENCE, run_a="fixture")
    with pytest.raises(TinyGPTError, match="no trained weights"):
        make_run(bench.workspace.models, "fresh", trained=False)
        bench.versus("fresh", SENTENCE, run_a="fixture")
