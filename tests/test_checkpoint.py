"""checkpoint.py: weights round trip, damaged files refused, the resume point's codec (optimizer and
RNG states restored exactly), loading a run's model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from tinygpt_tui import checkpoint, runs
from tinygpt_tui.config import ModelConfig, TinyGPTError
from tinygpt_tui.model import GPT
from tinygpt_tui.presets import preset_config


def _model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(**{"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "vocab_size": 40, **kw}))


def test_weights_round_trip_with_tied_head(home):
    model = _model()
    checkpoint.save_weights(home / "w.safetensors", model, step=7, val_loss=1.5)
    tensors, meta = checkpoint.read_safetensors(home / "w.safetensors", checkpoint.WEIGHTS_FORMAT)
    assert meta["step"] == "7" and float(meta["val_loss"]) == 1.5
    assert "lm_head.weight" not in tensors  # stored once, as the embedding
    other = _model()
    torch.nn.init.zeros_(other.transformer.wte.weight)
    checkpoint.load_weights_into(other, tensors, home / "w.safetensors")
    assert torch.equal(other.lm_head.weight, model.lm_head.weight)
    assert other.lm_head.weight is other.transformer.wte.weight


def test_damaged_weight_files_are_refused(home):
    path = home / "w.safetensors"
    checkpoint.save_weights(path, _model(), step=1)
    data = path.read_bytes()

    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TinyGPTError, match="corrupt or truncated"):
        checkpoint.read_safetensors(path, checkpoint.WEIGHTS_FORMAT)

    flipped = bytearray(data)
    flipped[-5] ^= 0xFF  # a byte inside the tensor data: only the checksum can tell
    path.write_bytes(bytes(flipped))
    with pytest.raises(TinyGPTError, match="corrupt"):
        checkpoint.read_safetensors(path, checkpoint.WEIGHTS_FORMAT)

    from safetensors.torch import save_file

    save_file({"x": torch.zeros(3)}, str(path))  # a valid safetensors file, not ours
    with pytest.raises(TinyGPTError, match="not a tinygpt-weights file"):
        checkpoint.read_safetensors(path, checkpoint.WEIGHTS_FORMAT)

    checkpoint.save_weights(path, _model(n_embd=32), step=1)  # ours, but another shape
    tensors, _ = checkpoint.read_safetensors(path, checkpoint.WEIGHTS_FORMAT)
    with pytest.raises(TinyGPTError, match="does not match this run's model"):
        checkpoint.load_weights_into(_model(), tensors, path)


def test_a_device_this_machine_lacks_is_one_sentence(home, monkeypatch):
    from fixtures_runs import make_run

    make_run(home / "models", "m")
    with pytest.raises(TinyGPTError, match="is not a device"):
        checkpoint.load_model(home / "models" / "m", device="toaster")


def test_load_model_without_weights_says_so(home):
    runs.create_run(home / "models", preset_config("micro", "empty"))
    with pytest.raises(TinyGPTError, match="no trained weights yet"):
        checkpoint.load_model(home / "models" / "empty")


def _trained_pair() -> tuple[GPT, torch.optim.AdamW]:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randint(0, 40, (2, 8))
    model(x, x).loss.backward()
    opt.step()
    return model, opt


def test_resume_point_restores_weights_moments_and_every_rng(home):
    runs.create_run(home / "models", preset_config("micro", "r"))
    model, opt = _trained_pair()
    torch.manual_seed(5)
    random.seed(6)
    np.random.seed(7)
    tensors, scalars = checkpoint.pack_training_state(model, opt, None, torch.device("cpu"), {"step": 3})
    checkpoint.save_state(home / "models" / "r", tensors, scalars)
    expected = (torch.rand(3), random.random(), np.random.rand())  # what the RNGs draw next

    loaded_tensors, loaded = checkpoint.load_state(home / "models" / "r")
    assert loaded["step"] == 3 and loaded["format"] == checkpoint.STATE_FORMAT
    fresh = _model(n_layer=1)
    torch.nn.init.zeros_(fresh.transformer.wte.weight)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    checkpoint.restore_training_state(fresh, fresh_opt, None, loaded_tensors, loaded, home / "state")
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(a, b)
    for i, st in opt.state_dict()["state"].items():
        assert torch.equal(st["exp_avg"], fresh_opt.state_dict()["state"][i]["exp_avg"])
    torch.manual_seed(0)  # scramble every RNG, then restore
    random.seed(0)
    np.random.seed(0)
    checkpoint.restore_rng(loaded_tensors, loaded, torch.device("cpu"))
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]
    # the readable copy has the scalars but not the RNG's long state
    summary = runs.state_summary(home / "models" / "r")
    assert summary["step"] == 3 and "python_random" not in summary


def test_optimizer_state_of_another_model_is_refused(home):
    model, opt = _trained_pair()
    tensors, scalars = checkpoint.pack_training_state(model, opt, None, torch.device("cpu"), {"step": 1})
    other = _model(n_embd=32)
    weights_only = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    weights_only |= {f"model.{k}": v for k, v in checkpoint.weights_state_dict(other).items()}
    with pytest.raises(TinyGPTError, match="optimizer state for another model"):
        checkpoint.restore_training_state(other, torch.optim.AdamW(other.parameters()), None, weights_only,
                                          scalars, home / "state")


def test_save_checkpoint_writes_best_only_when_improved(home):
    runs.create_run(home / "models", preset_config("micro", "c"))
    model, opt = _trained_pair()
    d = runs.run_dir(home / "models", "c")
    tensors, scalars = checkpoint.pack_training_state(model, opt, None, torch.device("cpu"),
                                                      {"step": 4, "val_loss": 2.5, "best_val_loss": 2.0})
    checkpoint.save_checkpoint(home / "models" / "c", model, tensors, scalars, best=False)
    assert (d / runs.WEIGHTS).is_file() and (d / runs.STATE).is_file() and not (d / runs.BEST).exists()
    checkpoint.save_checkpoint(home / "models" / "c", model, tensors, scalars, best=True)
    _, meta = checkpoint.read_safetensors(d / runs.BEST, checkpoint.WEIGHTS_FORMAT)
    assert meta["step"] == "4" and float(meta["val_loss"]) == 2.0
    _, meta = checkpoint.read_safetensors(d / runs.WEIGHTS, checkpoint.WEIGHTS_FORMAT)
    assert float(meta["val_loss"]) == 2.5


def test_a_state_file_of_another_version_is_refused(home):
    runs.create_run(home / "models", preset_config("micro", "v"))
    checkpoint.save_state(home / "models" / "v", {"x": torch.zeros(1)}, {"step": 1, "version": 99})
    with pytest.raises(TinyGPTError, match="another version"):
        checkpoint.load_state(home / "models" / "v")
    assert checkpoint.load_state(home / "models" / "absent") is None


def test_a_classic_run_written_before_the_modern_options_still_loads_and_generates(home):
    """tests/fixtures/classic-v0 was trained by the code before rotary, RMSNorm and Muon existed: its
    config.json names none of the new options, and it must load as the classic shape it was."""
    import shutil

    from tinygpt_tui.config import SamplingConfig
    from tinygpt_tui.generate import collect_text, generate

    shutil.copytree(Path(__file__).parent / "fixtures" / "classic-v0", home / "models" / "classic-v0")
    model, tok, cfg = checkpoint.load_model(home / "models" / "classic-v0", "latest")
    assert cfg.model.position == "learned" and cfg.model.norm == "layernorm" and cfg.model.activation == "gelu"
    assert "wpe" in model.transformer
    params = SamplingConfig(max_new_tokens=20, seed=3, temperature=0.8)
    text = collect_text(list(generate(model, tok, "Once", params)))
    assert len(text) > 0
    again = collect_text(list(generate(model, tok, "Once", params)))
    assert again == text  # seeded: the same model gives the same sample
