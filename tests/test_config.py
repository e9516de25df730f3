"""Settings: sizes, validation with clear sentences, JSON round trips, presets and value coercion."""

from __future__ import annotations

import pytest

from tinygpt_tui.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
    SamplingConfig,
    TokenizerConfig,
    TrainConfig,
    coerce_value,
    parse_settings,
    parse_size,
)
from tinygpt_tui.presets import PRESETS, preset_config


@pytest.mark.parametrize(("text", "value"), [("5MB", 5_000_000), ("200k", 200_000), ("1.5G", 1_500_000_000),
                                             ("2MiB", 2 * 2**20), ("123", 123), ("all", None), (None, None)])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["abc", "-1", "inf", "nan", "1e400"])
def test_bad_sizes_are_one_sentence(text):
    with pytest.raises(ConfigError) as err:
        parse_size(text)
    assert text in err.value.message and err.value.hint


@pytest.mark.parametrize(("make", "needle"), [
    (lambda: TokenizerConfig(vocab_size=100), "smaller than the 256-byte alphabet"),
    (lambda: TokenizerConfig(kind="wordpiece"), "Unknown tokenizer kind"),
    (lambda: TokenizerConfig(special_tokens=["<|a|>", ""]), "special token is empty"),
    (lambda: ModelConfig(n_embd=100, n_head=3), "not divisible"),
    (lambda: ModelConfig(attn_dropout=1.0), "attn_dropout"),
    (lambda: ModelConfig(attn_dropout=float("nan")), "attn_dropout"),
    (lambda: TrainConfig(device="tpu"), "Unknown device"),
    (lambda: SamplingConfig(temperature=-1), "temperature"),
    (lambda: SamplingConfig(temperature=1e-300), "temperature"),
    (lambda: SamplingConfig(top_p=0), "top_p"),
    (lambda: SamplingConfig(seed=2**70), "seed"),
    (lambda: RunConfig(name="../x"), "not a valid run name"),
])
def test_invalid_settings_say_what_is_wrong(make, needle):
    with pytest.raises(ConfigError) as err:
        make()
    assert needle in err.value.message


def test_specials_start_with_endoftext_once():
    assert TokenizerConfig(special_tokens=["<|pad|>", "<|endoftext|>", "<|pad|>"]).special_tokens == [
        "<|endoftext|>", "<|pad|>"]


def test_run_config_round_trips_through_json():
    cfg = preset_config("small", "r1", {"train": {"lr": 5e-4}, "tokenizer": {"vocab_size": 4096}})
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg and again.train.lr == 5e-4 and again.model.n_embd == 256


def test_unknown_or_malformed_json_is_refused():
    with pytest.raises(ConfigError, match="Unknown ModelConfig setting"):
        RunConfig.from_dict({"name": "r", "model": {"n_layers": 3}})
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{")


def test_every_preset_builds_and_small_is_about_5m_parameters():
    for name in PRESETS:
        assert preset_config(name).preset == name
    m = preset_config("small").model
    per_layer = 12 * m.n_embd**2
    assert 4.5e6 < m.n_layer * per_layer + m.vocab_size * m.n_embd < 5.5e6
    with pytest.raises(ConfigError, match="Unknown preset"):
        preset_config("huge")


def test_coerce_value_follows_the_field_type():
    assert coerce_value(SamplingConfig, "top_k", "40") == 40
    assert coerce_value(SamplingConfig, "temperature", "0.7") == 0.7
    assert coerce_value(SamplingConfig, "seed", "none") is None
    assert coerce_value(TrainConfig, "compile", "yes") is True
    with pytest.raises(ConfigError, match="not a valid value for top_k"):
        coerce_value(SamplingConfig, "top_k", "many")
    with pytest.raises(ConfigError, match="not a SamplingConfig setting"):
        coerce_value(SamplingConfig, "topk", "1")


def test_settings_are_typed_by_their_section_and_field():
    assert parse_settings(["model.value_residual=true", "model.attn_dropout=0", "train.max_time=90",
                           "data.max_bytes=5MB", "tokenizer.special_tokens=<|a|>,<|b|>", "model.n_layer=6"]) == {
        "model": {"value_residual": True, "attn_dropout": 0.0, "n_layer": 6}, "train": {"max_time": 90.0},
        "data": {"max_bytes": 5_000_000}, "tokenizer": {"special_tokens": ["<|a|>", "<|b|>"]}}
    assert parse_settings(["train.max_time=none"]) == {"train": {"max_time": None}}
    # special tokens split on spaces as well, as --special does; stop strings keep theirs
    assert parse_settings(["tokenizer.special_tokens=<|a|> <|b|>, <|a|>"]) == {
        "tokenizer": {"special_tokens": ["<|a|>", "<|b|>"]}}
    assert coerce_value(SamplingConfig, "stop", "The end.,Bye") == ["The end.", "Bye"]
    for bad, said in (("model.n_layer", "not a SECTION.KEY=VALUE"), ("sampling.top_k=5", "not a SECTION.KEY=VALUE"),
                      ("model.n_layer= ", "not a SECTION.KEY=VALUE"), ("data.max_bytes=lots", "not a size"),
                      ("train.shedule=wsd", "not a TrainConfig setting")):
        with pytest.raises(ConfigError, match=said) as err:
            parse_settings([bad])
        assert err.value.hint


@pytest.mark.parametrize("d", [
    {"name": "r", "data": {"source": 5}},
    {"name": "r", "data": 7},
    {"name": "r", "model": ["n_layer"]},
    {"name": 3},
    {"name": "r", "preset": {"x": 1}},
    {"name": "r", "model": {"n_layer": "4"}},
    {"name": "r", "model": {"bias": "yes"}},
    {"name": "r", "tokenizer": {"special_tokens": [1]}},
    {"name": "r", "train": {"lr": None}},
])
def test_wrong_types_in_config_json_are_a_config_error(d):
    """Issue 15 item 3: wrong types escaped as TypeError/AttributeError and broke every listing."""
    import json

    with pytest.raises(ConfigError) as err:
        RunConfig.from_json(json.dumps(d))
    assert err.value.hint


@pytest.mark.parametrize("make", [
    lambda: ModelConfig(n_layer=10**9),
    lambda: ModelConfig(n_embd=2**20, n_head=1),
    lambda: ModelConfig(block_size=2**30),
    lambda: TrainConfig(batch_size=10**9),
    lambda: TrainConfig(lr=float("inf")),
    lambda: TrainConfig(lr=float("nan")),
    lambda: TrainConfig(max_time=float("inf")),
    lambda: TrainConfig(seed=-1),
    lambda: TrainConfig(seed=2**40),
])
def test_sizes_rates_and_seeds_out_of_bounds_are_refused(make):
    """Issue 15 items 5 and 7: n_layer=10**9, lr=inf, max_time=inf, --seed -1 were accepted and failed
    after data preparation (an OOM kill, a hang, numpy's ValueError)."""
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.hint


def test_max_bytes_may_be_written_as_a_size_in_config_json():
    cfg = RunConfig.from_dict({"name": "r", "data": {"max_bytes": "5MB"}})
    assert cfg.data.max_bytes == 5_000_000


def test_the_llm_8x512_preset_is_the_predecessor_recipe():
    """GPT-2's vocabulary plus the three chat tokens, context 512, AdamW at 3e-4 (issue 9)."""
    cfg = preset_config("llm-8x512")
    assert cfg.tokenizer.kind == "gpt2"
    assert cfg.tokenizer.special_tokens == ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    assert cfg.model.block_size == 512 and (cfg.model.n_layer, cfg.model.n_embd) == (8, 512)
    assert cfg.train.optimizer == "adamw" and cfg.train.lr == 3e-4 and cfg.model.position == "learned"
