"""story.py: which validation document is the story, scoring it, and which tokens fell most."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tinygpt_tui.config import ModelConfig
from tinygpt_tui.model import GPT
from tinygpt_tui.scoring import score_text
from tinygpt_tui.story import fallen, pick_story, score_story
from tinygpt_tui.tokenizer import CharTokenizer

EOT = 0


def split(*docs: list[int], lead: list[int] | None = None) -> np.ndarray:
    """A validation shard: an optional leading piece without a document start, then documents each
    followed by EOT."""
    out = list(lead or [])
    if lead:
        out.append(EOT)
    for d in docs:
        out += d + [EOT]
    return np.asarray(out, dtype=np.uint16)


def test_the_story_is_the_first_document_that_fills_the_window_capped_to_it():
    val = split([5, 6], [7] * 3, list(range(10, 40)), list(range(50, 90)))
    assert pick_story(val, EOT, block_size=8) == list(range(10, 18))  # the first piece was skipped: [5, 6] too short
    assert pick_story(val, EOT, block_size=64, cap=16) == list(range(10, 26))  # the cap applies too
    # none fills the window: the longest one, whole
    assert pick_story(val, EOT, block_size=64) == list(range(50, 90))
    # deterministic: the same shard gives the same story
    assert pick_story(val, EOT, block_size=8) == pick_story(val.copy(), EOT, block_size=8)


def test_the_first_piece_of_a_split_is_skipped_when_others_exist_and_kept_when_alone():
    val = split(list(range(100, 120)), lead=list(range(1, 30)))
    assert pick_story(val, EOT, block_size=10) == list(range(100, 110))
    assert pick_story(np.asarray(list(range(1, 30)), dtype=np.uint16), EOT, block_size=10) == list(range(1, 11))
    assert pick_story(np.zeros(0, dtype=np.uint16), EOT, block_size=10) == []


def test_scoring_gives_one_surprisal_per_token_as_the_scorer_does_and_leaves_the_rng_alone():
    text = "the fox ran to the bear"
    tok = CharTokenizer(sorted(set(text)))
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16, dropout=0.5))
    model.train()
    ids = tok.encode(text)
    before = torch.get_rng_state()
    tokens, bits = score_story(model, tok, ids)
    assert torch.equal(before, torch.get_rng_state())  # dropout off, nothing drawn: exact resume is safe
    assert model.training  # handed back as it was
    assert len(tokens) == len(bits) == len(ids) and "".join(tokens) == text
    expected = [r.surprisal_bits for r in score_text(model, tok, text, alternatives=0).records]
    assert bits == pytest.approx(expected, abs=1e-3)
    assert score_story(model, tok, []) == ((), ())


def test_fallen_marks_the_largest_real_falls_first():
    previous = [8.0, 5.0, 1.0, 6.0, None, 3.0]
    latest = [2.0, 5.5, 0.5, 5.0, 1.0, math.inf]
    assert fallen(previous, latest, k=2) == [0, 3]  # falls of 6 and 1; 0.5 at index 2 comes third
    assert fallen(previous, latest, k=10) == [0, 3, 2]  # a rise (index 1), None and inf are never marked
    assert fallen([1.0, 2.0], [1.0, 2.0]) == []  # nothing fell
    assert fallen([1.0], [0.5, 0.1]) == []  # not the same story
