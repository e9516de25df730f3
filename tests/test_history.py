"""history.py: the thinning rule, and the history folder the trainer keeps."""

from __future__ import annotations

import pytest
import torch

from tinygpt_tui import checkpoint, history, runs
from tinygpt_tui.config import TinyGPTError, TrainConfig
from tinygpt_tui.model import GPT
from tinygpt_tui.presets import preset_config


@pytest.mark.parametrize("bound", [2, 3, 5, 24])
@pytest.mark.parametrize("interval", [1, 7, 200])
def test_the_bound_holds_over_thousands_of_evaluations_and_keeps_the_first_and_latest(bound, interval):
    kept: list[int] = []
    for n in range(0, 3000 * interval, interval):
        kept = history.thin(kept + [n], bound)
        assert len(kept) <= bound and kept[0] == 0 and kept[-1] == n
    assert len(kept) == bound
    if bound >= 5:
        # spread over the whole run: no gap (the newest aside) more than twice another
        gaps = [b - a for a, b in zip(kept[:-2], kept[1:-1], strict=True)]
        assert max(gaps) <= 2 * min(gaps)
        assert kept[1] <= 2 * kept[-1] / (bound - 1)  # the early run is not crowded out


def test_thin_keeps_what_fits_and_drops_nothing_needlessly():
    assert history.thin([30, 0, 10, 20], 24) == [0, 10, 20, 30]
    assert history.thin([0, 10, 20, 30], 0) == []
    assert history.thin([0, 10, 20, 30], 1) == [30]
    # of 0..8 keep 5: the steps of the highest power-of-two level, the ends always
    assert history.thin(list(range(9)), 5) == [0, 2, 4, 6, 8]
    assert history.thin(list(range(10)), 5) == [0, 4, 6, 8, 9]


def test_the_history_bound_is_a_validated_setting():
    assert TrainConfig().history == 24 and TrainConfig(history=0).history == 0
    for bad in (1, -3, 10**6, 2.5):
        with pytest.raises(TinyGPTError, match="history must be 0"):
            TrainConfig(history=bad)


def test_saved_frames_are_thinned_read_back_and_counted(tmp_path):
    cfg = preset_config("micro", "h")
    run = runs.create_run(tmp_path, cfg)
    models = []
    for step in range(0, 60, 10):
        torch.manual_seed(step)
        model = GPT(cfg.model)
        models.append(model)
        kept = history.save_frame(run, model, step=step, tokens=100 * step, val_loss=5.0 - step / 100, bound=4)
    assert kept == [0, 20, 40, 50]
    (run / runs.HISTORY / "notes.txt").write_text("not a frame")  # a stranger's file is left out
    frames = history.frames(run)
    assert [f.step for f in frames] == kept and [f.tokens for f in frames] == [0, 2000, 4000, 5000]
    assert frames[-1].val_loss == pytest.approx(4.5)
    count, size = runs.history_size(run)
    assert count == 4 and size == sum(f.bytes for f in frames) > 0
    info = runs.run_info(run)
    assert (info.history, info.history_bytes) == (4, size)
    # a frame holds the weights of its step
    back = history.load_frame(GPT(cfg.model), frames[-1])
    for key, value in checkpoint.weights_state_dict(models[-1]).items():
        assert torch.equal(checkpoint.weights_state_dict(back)[key], value)
    # bound 0 writes nothing
    assert history.save_frame(run, models[0], step=70, tokens=0, val_loss=None, bound=0) == kept


def test_a_damaged_frame_is_refused_in_one_sentence(tmp_path):
    cfg = preset_config("micro", "d")
    run = runs.create_run(tmp_path, cfg)
    history.save_frame(run, GPT(cfg.model), step=5, tokens=0, val_loss=None, bound=4)
    frame = history.frames(run)[0]
    data = frame.path.read_bytes()
    frame.path.write_bytes(data[: len(data) - 64])
    with pytest.raises(TinyGPTError, match="corrupt or truncated"):
        history.load_frame(GPT(cfg.model), frame)
