"""Opening Hugging Face causal LMs: tiny random GPT-2, GPT-Neo and Llama models built locally."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
from hf_fixtures import SPECIAL_TEXT, build  # noqa: E402

from tinygpt_tui.attention import attention_maps  # noqa: E402
from tinygpt_tui.config import SamplingConfig, TinyGPTError  # noqa: E402
from tinygpt_tui.generate import generate  # noqa: E402
from tinygpt_tui.hf import open_hf  # noqa: E402
from tinygpt_tui.scoring import score_text  # noqa: E402

KINDS = ["gpt2", "gpt_neo", "llama"]


@pytest.fixture(scope="module", params=KINDS)
def opened(request, tmp_path_factory):
    folder = build(request.param, tmp_path_factory.mktemp(request.param))
    model, tok, info = open_hf(str(folder))
    return request.param, folder, model, tok, info


def _direct(folder, ids):
    """Log-probabilities computed directly by transformers, (T, V)."""
    import transformers

    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    hf.eval()
    with torch.no_grad():
        return torch.log_softmax(hf(torch.tensor([ids])).logits[0].float(), dim=-1)


def test_generated_probabilities_equal_transformers(opened):
    kind, folder, model, tok, _ = opened
    params = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=12, seed=3, alternatives=3)
    records = list(generate(model, tok, "Tom ran to", params, stop_at_eot=False))
    assert len(records) == 12
    prompt = tok.encode("Tom ran to")
    if kind == "llama":
        prompt = [tok.hf.bos_token_id] + prompt  # the tokenizer starts every document with <s>
    ids = prompt + [r.id for r in records]
    logp = _direct(folder, ids)
    for j, r in enumerate(records):
        row = logp[len(prompt) - 1 + j]
        assert r.prob == pytest.approx(float(row[r.id].exp()), abs=1e-5)
        assert r.alternatives[0].id == int(row.argmax())
        assert r.bytes == tok.token_bytes(r.id)


def test_kv_cached_stream_equals_full_forward(opened):
    _, _, model, tok, _ = opened
    ids = tok.encode("Once upon a time there was a little dog")
    with torch.inference_mode():
        full = model(torch.tensor([ids])).logits[0]
        cache = model.new_kv_cache(1)
        first = model(torch.tensor([ids[:3]]), kv_cache=cache).logits[0]
        steps = [first] + [model(torch.tensor([[i]]), kv_cache=cache, last_only=True).logits[0] for i in ids[3:]]
    assert torch.allclose(torch.cat(steps), full, atol=1e-5)
    assert cache.pos == len(ids)


def test_score_equals_transformers(opened):
    kind, folder, model, tok, _ = opened
    text = "Tom liked to run in the park."
    result = score_text(model, tok, text, alternatives=2)
    start = tok.hf.bos_token_id if kind == "llama" else tok.eot_id
    ids = [start] + tok.encode(text)
    logp = _direct(folder, ids)
    assert [r.id for r in result.records] == ids[1:]
    for j, r in enumerate(result.records):
        assert r.logprob == pytest.approx(float(logp[j, ids[j + 1]]), abs=1e-5)
    assert result.bytes == len(text.encode()) + (1 if kind == "llama" else 0)  # llama's leading ▁


def test_token_bytes_are_the_real_bytes(opened):
    kind, _, _, tok, info = opened
    ids = tok.encode(SPECIAL_TEXT)
    text = tok.decode_bytes(ids).decode("utf-8")
    assert text.lstrip(" ") == SPECIAL_TEXT
    if kind == "llama":
        assert info.tokenizer_style == "sentencepiece"
        byte_ids = [i for i in ids if tok.piece(i).startswith("<0x")]
        assert byte_ids, "the test text needs byte fallback"
        assert all(len(tok.token_bytes(i)) == 1 for i in byte_ids)
        assert tok.hex(tok.encode("—")[-1]) == "94"  # — is e2 80 94, three byte pieces
        assert any(tok.piece(i).startswith("\u2581") for i in ids)
    else:
        assert info.tokenizer_style == "byte-level"
        assert any(tok.piece(i).startswith("Ġ") for i in ids)
        assert tok.token_bytes(tok.encode(" to")[0]) == b" to"


def test_attention_maps(opened):
    _, _, model, tok, _ = opened
    ids = tok.encode("Tom liked to run")
    maps = attention_maps(model, tok, ids)
    assert maps.weights.shape == (2, 4, len(ids), len(ids))
    assert abs(float(maps.weights[1, 2, -1].sum()) - 1.0) < 1e-5
    assert float(maps.weights[0, 0, 0, 1:].sum()) == 0.0  # causal


def test_wrong_id_offline_is_one_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TinyGPTError, match="hub"):
        open_hf("no-such-user/no-such-model-xyz")


def test_not_a_folder():
    with pytest.raises(TinyGPTError, match="not a folder"):
        open_hf("./missing-folder")


def test_too_large_is_refused_before_loading(tmp_path, monkeypatch):
    folder = build("gpt2", tmp_path / "m")
    import transformers

    def boom(*a, **k):
        raise AssertionError("weights were read")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)
    with pytest.raises(TinyGPTError, match=r"needs about \d+ MiB"):
        open_hf(str(folder), memory=1000)
