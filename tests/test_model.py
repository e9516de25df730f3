"""The GPT in model.py: sizes, FLOPs estimate, KV cache, attention maps, weight tying, learning."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tinygpt_tui.config import ModelConfig
from tinygpt_tui.model import GPT


def micro(**kw) -> ModelConfig:
    base = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=64, dropout=0.0, bias=False)
    base.update(kw)
    return ModelConfig(**base)


def make(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(micro(**kw)).eval()


def test_param_count_matches_the_architecture():
    C, L, V, T = 32, 2, 64, 16
    per_block = 3 * C * C + C * C + 8 * C * C + 2 * C  # qkv, attn proj, MLP in+out, two LayerNorm weights
    expected = V * C + L * per_block + C  # tied embedding/head counted once, final LayerNorm
    model = make()
    assert model.num_params() == expected
    assert model.num_params(non_embedding=False) == expected + T * C


def test_biases_add_their_parameters():
    C, L = 32, 2
    extra_per_block = 3 * C + C + 4 * C + C + 2 * C  # qkv, attn proj, MLP in, MLP out, two LN biases
    assert make(bias=True).num_params() - make().num_params() == L * extra_per_block + C


def test_weight_tying_shares_one_matrix():
    tied = make()
    assert tied.transformer.wte.weight is tied.lm_head.weight
    untied = make(tie_weights=False)
    assert untied.transformer.wte.weight is not untied.lm_head.weight
    assert untied.num_params() - tied.num_params() == 64 * 32
    # a gradient through the head reaches the embedding when tied
    x = torch.randint(0, 64, (2, 8))
    tied.train()
    tied(x, x).loss.backward()
    assert tied.transformer.wte.weight.grad is not None and tied.transformer.wte.weight.grad.abs().sum() > 0


def test_flops_estimate_matches_counted_matmuls():
    # the explicit-attention path uses plain matmuls, which the flop counter sees one by one
    model = make(n_embd=64, block_size=32, vocab_size=128).train()
    x = torch.randint(0, 128, (2, 32))
    counter = FlopCounterMode(display=False)
    with counter:
        model(x, x, return_attention=True).loss.backward()
    counted = counter.get_total_flops() / x.numel()
    estimate = model.flops_per_token(32)
    # 6N counts the LayerNorm weights as matmul parameters: a fraction of a percent apart
    assert counted == pytest.approx(estimate, rel=0.01)
    assert model.flops_per_token(32) > model.flops_per_token(16)  # attention grows with context


def test_kv_cache_gives_the_same_logits_as_a_full_forward():
    model = make()
    x = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        full = model(x).logits  # (2, 12, V)
        cache = model.new_kv_cache(batch_size=2)
        chunks = [x[:, :5], x[:, 5:6], x[:, 6:7], x[:, 7:12]]  # a prefill, single tokens, a chunk
        pieces = [model(c, kv_cache=cache).logits for c in chunks]
    assert cache.pos == 12
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)


def test_last_only_is_the_last_position_of_the_full_logits():
    model = make()
    x = torch.randint(0, 64, (3, 10))
    with torch.no_grad():
        assert torch.allclose(model(x, last_only=True).logits[:, 0], model(x).logits[:, -1], atol=1e-6)


def test_attention_maps_are_causal_and_rows_sum_to_one():
    model = make()
    x = torch.randint(0, 64, (2, 10))
    with torch.no_grad():
        out = model(x, return_attention=True)
        plain = model(x).logits
    assert out.attentions is not None and len(out.attentions) == 2
    for att in out.attentions:
        assert att.shape == (2, 2, 10, 10)
        assert torch.allclose(att.sum(-1), torch.ones(2, 2, 10), atol=1e-5)
        assert torch.all(att.triu(diagonal=1) == 0)  # no position looks ahead
    assert torch.allclose(out.logits, plain, atol=1e-5)  # explicit attention equals the fused kernel


def test_attention_maps_with_a_cache_cover_past_positions():
    model = make()
    x = torch.randint(0, 64, (1, 8))
    with torch.no_grad():
        cache = model.new_kv_cache()
        model(x[:, :5], kv_cache=cache)
        att = model(x[:, 5:], kv_cache=cache, return_attention=True).attentions[0]  # (1, nh, 3, 8)
    assert att.shape == (1, 2, 3, 8)
    assert torch.allclose(att.sum(-1), torch.ones(1, 2, 3), atol=1e-5)
    assert att[0, :, 0, 6:].abs().sum() == 0  # position 5 cannot see 6 and 7


def test_too_long_input_is_refused():
    model = make()
    with pytest.raises(ValueError, match="exceeds the context"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_optimizer_groups_leave_norms_biases_and_embeddings_undecayed():
    model = make(bias=True)
    decay, no_decay = model.optimizer_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(".c_" in names[i] and names[i].endswith("weight") for i in decayed)
    assert id(model.transformer.wte.weight) not in decayed and id(model.transformer.wpe.weight) not in decayed
    assert all(p.dim() == 1 for p in no_decay["params"] if id(p) not in
               {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)})
    # every parameter once, shared ones not twice
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_loss_at_init_is_near_uniform():
    model = make()
    x, y = torch.randint(0, 64, (2, 8, 16))  # unrelated targets (tied weights favour repeating x)
    with torch.no_grad():
        loss = model(x, y).loss.item()
    assert loss == pytest.approx(torch.log(torch.tensor(64.0)).item(), abs=0.3)


def test_micro_model_overfits_one_batch():
    model = make().train()
    torch.manual_seed(1)
    x = torch.randint(0, 64, (4, 16))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.optimizer_groups(0.0), lr=1e-2)
    first = None
    for _ in range(150):
        loss = model(x, y).loss
        first = first if first is not None else loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert first > 3.5
    assert loss.item() < 0.1, f"a 2-layer model should memorise 64 tokens, loss is {loss.item():.3f}"


# --------------------------------------------------------------------------------------------------
# the modern options, each on its own and all together

MODERN = dict(position="rotary", norm="rmsnorm", qk_norm=True, activation="relu2", zero_init=True,
              logit_softcap=15.0, tie_weights=False)
OPTIONS = [dict(position="rotary"), dict(norm="rmsnorm"), dict(qk_norm=True), dict(activation="relu2"),
           dict(zero_init=True), dict(zero_init=True, tie_weights=False), dict(logit_softcap=5.0),
           dict(x0_mix=True), dict(value_residual=True), MODERN, dict(MODERN, x0_mix=True, value_residual=True)]


def _overfit(model: GPT, steps: int = 150) -> tuple[float, float]:
    model.train()
    torch.manual_seed(1)
    x = torch.randint(0, 64, (4, 16))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.optimizer_groups(0.0), lr=1e-2)
    first = loss = None
    for _ in range(steps):
        loss = model(x, y).loss
        first = first if first is not None else loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return first, loss.item()


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "+".join(f"{k}={v}" for k, v in o.items()))
def test_each_architecture_option_overfits_one_batch(options):
    first, last = _overfit(make(**options))
    assert first > 3.0
    assert last < 0.15, f"{options}: a 2-layer model should memorise 64 tokens, loss is {last:.3f}"


@pytest.mark.parametrize("options", [dict(position="rotary"), MODERN,
                                     dict(MODERN, x0_mix=True, value_residual=True)],
                         ids=["rotary", "modern", "modern+shortcuts"])
def test_rotary_kv_cache_decoding_equals_a_full_forward_at_every_step(options):
    model = make(**options)
    # zero-initialised projections would make every position's output the same: give them weights
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().sum():
                p.normal_(0.0, 0.05)
    x = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        full = model(x).logits
        cache = model.new_kv_cache(batch_size=2)
        steps = [model(x[:, :3], kv_cache=cache).logits]  # a prefill, then one token at a time
        steps += [model(x[:, t : t + 1], kv_cache=cache).logits for t in range(3, 16)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
    # and the positions matter: the same tokens shifted give other logits
    with torch.no_grad():
        shifted = model(torch.cat([x[:, :1], x], dim=1)[:, :16]).logits
    assert not torch.allclose(shifted[:, 1:], full[:, :-1], atol=1e-3)


def test_modern_attention_maps_match_the_fused_kernel():
    model = make(**MODERN)
    with torch.no_grad():
        for p in model.parameters():
            if not p.abs().sum():
                p.normal_(0.0, 0.05)
        x = torch.randint(0, 64, (2, 10))
        out = model(x, return_attention=True)
        plain = model(x).logits
    assert torch.allclose(out.logits, plain, atol=1e-5)
    assert all(torch.all(att.triu(diagonal=1) == 0) for att in out.attentions)


def test_modern_shape_has_no_position_table_and_starts_uniform():
    model = make(**MODERN)
    assert "wpe" not in model.transformer
    assert not any("wpe" in k for k in model.state_dict())  # rotary tables are not saved
    assert model.num_params() == model.num_params(non_embedding=False)
    x = torch.randint(0, 64, (2, 8))
    with torch.no_grad():  # a zero head predicts uniformly: loss is exactly ln(vocab)
        assert model(x, x).loss.item() == pytest.approx(torch.log(torch.tensor(64.0)).item(), abs=1e-4)


def test_softcap_bounds_the_logits():
    model = make(logit_softcap=2.0)
    with torch.no_grad():
        model.lm_head.weight.mul_(1000.0)
        logits = model(torch.randint(0, 64, (1, 8))).logits
    assert logits.abs().max() <= 2.0
    assert logits.abs().max() > 1.5


def test_hidden_matrices_are_the_blocks_two_dimensional_weights():
    model = make(**MODERN)
    hidden = {id(p) for p in model.hidden_matrices()}
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(hidden) == 2 * 4  # per block: qkv, attention projection, MLP in and out
    assert all(names[i].startswith("transformer.h.") for i in hidden)
    groups = model.optimizer_groups(0.1, exclude=model.hidden_matrices())
    rest = {id(p) for g in groups for p in g["params"]}
    assert not rest & hidden
    assert len(rest) + len(hidden) == len(list(model.parameters()))


def test_the_shortcuts_scalars_start_neutral_and_learn_with_adamw_undecayed():
    plain, mixed = make(**MODERN), make(**MODERN, x0_mix=True, value_residual=True)
    names = {n for n, _ in mixed.named_parameters()} - {n for n, _ in plain.named_parameters()}
    # a pair per block for the embedding, a pair per layer after the first for the values
    assert names == {"transformer.h.0.x0_mix", "transformer.h.1.x0_mix", "transformer.h.1.attn.value_mix"}
    with torch.no_grad():
        for a, b in zip(plain.parameters(), (p for n, p in mixed.named_parameters() if n not in names), strict=True):
            a.normal_(0.0, 0.05)
            b.copy_(a)
    x = torch.randint(0, 64, (2, 12))
    only_x0 = make(**MODERN, x0_mix=True)
    only_x0.load_state_dict({**plain.state_dict(), **{k: v for k, v in only_x0.state_dict().items() if "mix" in k}})
    with torch.no_grad():  # the embedding shortcut starts at (1, 0): the same model as without it
        assert torch.allclose(only_x0(x).logits, plain(x).logits, atol=1e-6)
        # value residuals start at half and half: another function from the first step
        assert not torch.allclose(mixed(x).logits, plain(x).logits, atol=1e-3)
    mixed(x, x).loss.backward()
    scalars = [p for n, p in mixed.named_parameters() if n in names]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in scalars)
    hidden = {id(p) for p in mixed.hidden_matrices()}
    undecayed = {id(p) for p in mixed.optimizer_groups(0.1, exclude=mixed.hidden_matrices())[1]["params"]}
    assert all(id(p) not in hidden and id(p) in undecayed for p in scalars)


def test_unknown_architecture_options_are_refused():
    from tinygpt_tui.config import ConfigError

    with pytest.raises(ConfigError, match="position"):
        micro(position="alibi")
    with pytest.raises(ConfigError, match="even head size"):
        micro(position="rotary", n_embd=30, n_head=2)


def test_attention_dropout_can_be_set_apart_from_the_residual_dropout():
    """attn_dropout unset follows dropout; set, it alone decides the attention-probability dropout, so
    a run can keep the cheap residual dropout and leave attention on its fused path."""
    assert make(dropout=0.2).transformer.h[0].attn.dropout == 0.2
    split = make(dropout=0.2, attn_dropout=0.0)
    attn = split.transformer.h[0].attn
    assert attn.dropout == 0.0 and attn.attn_dropout.p == 0.0 and attn.resid_dropout.p == 0.2
    # no attention dropout: with the residual dropout off too, training mode computes eval mode's logits
    x = torch.randint(0, 64, (2, 12))
    quiet = make(dropout=0.0, attn_dropout=0.0)
    with torch.no_grad():
        assert torch.allclose(quiet.train()(x).logits, quiet.eval()(x).logits, atol=1e-6)
        # attention dropout alone changes training-mode logits
        noisy = make(dropout=0.0, attn_dropout=0.5).train()
        assert not torch.allclose(noisy(x).logits, noisy.eval()(x).logits, atol=1e-3)
