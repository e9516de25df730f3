"""undertrained.py: the score by hand on small matrices, and the issue's proof on trained micro runs:
tokens never seen in the training shards get the highest under-trained scores."""

from __future__ import annotations

import numpy as np
import pytest

from tinygpt_tui import runs, train
from tinygpt_tui.presets import MODERN_MODEL, preset_config
from tinygpt_tui.shards import open_shards
from tinygpt_tui.undertrained import from_matrices, row_distances, under_trained, under_trained_rows
from tinygpt_tui.vocab import count_tokens
from tinygpt_tui.workbench import Workbench


def test_row_distances_by_hand():
    m = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 3.0], [0.0, -3.0]])  # mean row (0, 0)
    dist, ratio = row_distances(m)
    assert dist.tolist() == [1.0, 1.0, 3.0, 3.0]
    assert ratio.tolist() == pytest.approx([0.5, 0.5, 1.5, 1.5])  # median distance 2


def test_a_row_that_is_only_the_shared_component_scores_one():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 4))
    emb[2] = np.delete(emb, 2, axis=0).mean(axis=0)  # so row 2 is exactly the mean of all six rows
    tied = from_matrices(emb)
    assert tied.tied and tied.head is None
    assert tied.ranking()[0] == 2 and tied.score[2] == pytest.approx(1.0)
    assert np.median(tied.score) == pytest.approx(0.0)


def test_an_untied_head_combines_both_matrices():
    emb = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    head = np.array([[0.0, 4.0], [0.0, -4.0], [1.0, 0.0], [-1.0, 0.0]])
    under = from_matrices(emb, head)
    assert not under.tied
    # ratios: emb (4/3, 4/3, 2/3, 2/3), head (8/5, 8/5, 2/5, 2/5)
    assert under.score[0] == pytest.approx(1 - np.sqrt(4 / 3 * 8 / 5))
    assert under.score[2] == pytest.approx(1 - np.sqrt(2 / 3 * 2 / 5))
    assert under.ranking().tolist() == [2, 3, 0, 1]  # ties by id
    zero = from_matrices(emb, np.zeros_like(head))  # a zero head not trained at all: nothing distinct
    assert zero.score.tolist() == [1.0] * 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import made_up_stories, write_corpus

    # a few dozen distinct characters: most of the 256 byte tokens of a byte-level BPE never occur
    return write_corpus(tmp_path_factory.mktemp("stories") / "stories.txt", made_up_stories(7, 300))


@pytest.mark.parametrize("model", [pytest.param({}, id="classic-tied"),
                                   pytest.param(dict(MODERN_MODEL), id="modern-untied-zero-head")])
def test_tokens_never_seen_in_the_shards_score_highest(home, workspace, corpus, model):
    overrides = {"data": {"source": str(corpus)}, "tokenizer": {"vocab_size": 300}, "model": model,
                 "train": {"dtype": "float32", "device": "cpu", "max_steps": 40, "compile": False,
                           "eval_interval": 40, "eval_iters": 1}}
    runs.create_run(workspace.models, preset_config("micro", "under", overrides))
    train.train_run(workspace, "under", on_event=lambda e: None)

    bench = Workbench(workspace)
    model_, tok, cfg = bench.read_model("under")
    counts = count_tokens(open_shards(bench.run_shards("under", tok), tok).train, tok.vocab_size)
    under = under_trained(model_)
    assert under.tied == cfg.model.tie_weights
    never = set(np.flatnonzero(counts == 0).tolist())
    assert 100 < len(never) < tok.vocab_size - 30  # the corpus leaves many tokens out, and uses many
    # the proof: every token absent from the training split outranks every token that occurs in it
    top = set(under.ranking()[:len(never)].tolist())
    assert top == never
    assert under.score[list(never)].min() > under.score[counts > 0].max()
    rows = under_trained_rows(tok, under, counts, top=5)
    assert [r["count"] for r in rows] == [0] * 5 and rows[0]["score"] >= rows[-1]["score"]
