"""Export a run as a transformers folder: logits and token ids equal ours; modern runs refused."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from tinygpt_tui import checkpoint, runs  # noqa: E402
from tinygpt_tui.config import TinyGPTError, TokenizerConfig  # noqa: E402
from tinygpt_tui.export import export_run  # noqa: E402
from tinygpt_tui.model import GPT  # noqa: E402
from tinygpt_tui.presets import preset_config  # noqa: E402
from tinygpt_tui.tokenizer_training import train_tokenizer  # noqa: E402

CORPUS = ("Once upon a time there was a little dog called Tom. Tom liked to run in the park with Lily.\n"
          "One day they found a big red ball — naïve café — and played until the sun went down.\n") * 30


def _make_run(models, tmp_path, name, *, kind="bpe", overrides=None, steps=25):
    """A micro run: tokenizer trained on CORPUS, a few real optimizer steps so weights are not at init."""
    corpus = tmp_path / f"{name}.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    cfg = preset_config("micro", name, {"tokenizer": {"kind": kind, "vocab_size": 300}, **(overrides or {})})
    tok = train_tokenizer(TokenizerConfig(kind=kind, vocab_size=300, special_tokens=cfg.tokenizer.special_tokens),
                          corpus)
    cfg.model.vocab_size = tok.vocab_size
    d = runs.create_run(models, cfg)
    tok.save(d / runs.TOKENIZER)
    torch.manual_seed(0)
    model = GPT(cfg.model)
    data = torch.tensor(tok.encode(CORPUS), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    B = cfg.model.block_size
    for _ in range(steps):
        i = torch.randint(0, len(data) - B - 1, (8,))
        x = torch.stack([data[j:j + B] for j in i])
        y = torch.stack([data[j + 1:j + B + 1] for j in i])
        loss = model(x, y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if cfg.model.bias:  # make the biases count
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n.endswith("bias"):
                        p.add_(0.01 * torch.randn_like(p))
    checkpoint.save_weights(d / runs.BEST, model, step=steps, val_loss=loss.item())
    checkpoint.save_state(d, {"step_marker": torch.zeros(1)},
                          {"step": steps, "best_val_loss": loss.item(), "best_val_bpb": 2.5, "best_step": steps,
                           "elapsed": 12.0})
    return d, model, tok


@pytest.mark.parametrize("kind,bias,tie", [("bpe", False, True), ("bpe", True, False), ("char", False, True)])
def test_export_loads_in_transformers_with_our_logits(tmp_path, kind, bias, tie, capfd):
    import transformers

    models = tmp_path / "models"
    models.mkdir()
    run, model, tok = _make_run(models, tmp_path, "exp", kind=kind,
                                overrides={"model": {"bias": bias, "tie_weights": tie}})
    capfd.readouterr()
    out = export_run(run, tmp_path / "out")
    assert "Writing model shards" not in capfd.readouterr().err  # no progress bar of transformers' own
    assert (out / "model.safetensors").is_file()
    card = (out / "README.md").read_text()
    assert "2.5000" in card and "12 s" in card and kind in card
    hf = transformers.AutoModelForCausalLM.from_pretrained(out)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    assert type(hf).__name__ == "GPT2LMHeadModel"
    ids = tok.encode(CORPUS)
    assert hf_tok(CORPUS)["input_ids"] == ids
    assert hf_tok.decode(ids[:40]) == tok.decode(ids[:40])
    x = torch.tensor([ids[:32]])
    model.eval()
    hf.eval()
    with torch.no_grad():
        ours = model(x).logits
        theirs = hf(x).logits
    assert torch.allclose(ours, theirs, atol=1e-4), float((ours - theirs).abs().max())


def test_modern_run_is_refused_naming_the_options(tmp_path):
    from tinygpt_tui.presets import MODERN_MODEL

    models = tmp_path / "models"
    models.mkdir()
    cfg = preset_config("micro", "modern", {"model": dict(MODERN_MODEL), "tokenizer": {"kind": "char"}})
    run = runs.create_run(models, cfg)
    with pytest.raises(TinyGPTError) as e:
        export_run(run, tmp_path / "out")
    msg = str(e.value)
    for word in ("rotary", "rmsnorm", "QK-norm", "relu2", "soft-cap"):
        assert word in msg
    assert not (tmp_path / "out").exists()


def test_export_refuses_a_non_empty_folder(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    run, _, _ = _make_run(models, tmp_path, "exp", kind="char", steps=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(TinyGPTError, match="not empty"):
        export_run(run, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("extra", [[], ["<|im_start|>"]])
def test_gpt2_tokenizer_run_exports_gpt2s_tokenizer(tmp_path, gpt2_cache, extra):
    """A run with the gpt2 kind (tiktoken) exports a transformers tokenizer giving the same ids, and the
    tanh GELU of an imported GPT-2 exports as gelu_new: the same logits."""
    import transformers

    models = tmp_path / "models"
    models.mkdir()
    run, model, tok = _make_run(models, tmp_path, "g2", kind="gpt2", steps=2,
                                overrides={"model": {"activation": "gelu_tanh", "bias": True},
                                           "tokenizer": {"kind": "gpt2", "special_tokens": ["<|endoftext|>", *extra]}})
    out = export_run(run, tmp_path / "out")
    hf = transformers.AutoModelForCausalLM.from_pretrained(out)
    hf_tok = transformers.AutoTokenizer.from_pretrained(out)
    assert hf.config.activation_function == "gelu_new"
    text = CORPUS[:400] + "<|endoftext|>  Spaces,\ttabs\n\nand 1234 digits — 😀 ok" + "".join(extra)
    ids = tok.encode(text)
    assert hf_tok(text)["input_ids"] == ids
    assert hf_tok.decode(ids) == tok.decode(ids)
    x = torch.tensor([ids[:32]])
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x).logits, hf.eval()(x).logits, atol=1e-4, rtol=0)
