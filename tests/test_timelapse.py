"""timelapse.py: frames of a run's history, the sample each writes, the token × checkpoint surprisal."""

from __future__ import annotations

import pytest
import torch

from tinygpt_tui import checkpoint, runs
from tinygpt_tui.config import SamplingConfig, TinyGPTError
from tinygpt_tui.generate import collect_text, generate
from tinygpt_tui.scoring import score_text
from tinygpt_tui.timelapse import open_timelapse

PARAMS = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=24, seed=7)


@pytest.fixture
def run(home):
    from fixtures_runs import make_run

    return make_run(home / "models", "lapse", history=4)


def test_frames_are_listed_with_step_tokens_and_validation_loss(run):
    lapse = open_timelapse(run)
    assert [f.step for f in lapse.frames] == [0, 17, 33, 50]
    assert [f.tokens for f in lapse.frames] == [0, 256 * 17, 256 * 33, 256 * 50]
    assert lapse.frames[-1].val_loss == pytest.approx(4.5 - 0.04 * 50)
    assert lapse.size == runs.history_size(run)[1] > 0


def test_the_last_frame_reads_a_text_as_the_latest_weights_do(run):
    text = "Once upon a time the fox met a bear."
    lapse = open_timelapse(run)
    matrix = lapse.surprisal(text)
    model, tok, _ = checkpoint.load_model(run, "latest")
    latest = score_text(model, tok, text)
    assert matrix.steps == [0, 17, 33, 50] and len(matrix.bits) == len(latest.records) == len(matrix.labels)
    assert [row[-1] for row in matrix.bits] == pytest.approx([r.surprisal_bits for r in latest.records], abs=1e-5)
    assert "".join(matrix.labels) == text
    # the frames are other weights: the first column is not the last
    assert any(abs(row[0] - row[-1]) > 1e-3 for row in matrix.bits)
    assert matrix.mean(-1) == pytest.approx(sum(r.surprisal_bits for r in latest.records) / len(latest.records))


def test_samples_use_one_seed_and_repeat(run):
    lapse = open_timelapse(run)
    first = list(lapse.samples("Once", PARAMS))
    again = list(lapse.samples("Once", PARAMS))
    assert first == again and [s.step for s in first] == [0, 17, 33, 50]
    assert len({s.text for s in first}) > 1  # the weights differ, so do the samples
    # the last frame writes what the latest weights write with the same seed
    model, tok, _ = checkpoint.load_model(run, "latest")
    assert first[-1].text == collect_text(list(generate(model, tok, "Once", PARAMS, inspect=False)))
    # an unset seed is one fixed seed, the same for every frame and every call
    unset = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=None)
    assert lapse.sample(1, "Once", unset) == lapse.sample(1, "Once", unset)


def test_a_run_without_history_says_why_and_how_to_get_one(home):
    from fixtures_runs import make_run

    run = make_run(home / "models", "plain")
    with pytest.raises(TinyGPTError) as err:
        open_timelapse(run)
    assert "no checkpoint history" in err.value.message and "train.history" in err.value.hint


def test_bad_requests_are_one_sentence(run):
    lapse = open_timelapse(run)
    with pytest.raises(TinyGPTError, match="no text"):
        lapse.surprisal("")
    with pytest.raises(TinyGPTError, match="no frame 9"):
        lapse.model(8)
    assert isinstance(lapse.model(-1), torch.nn.Module)
