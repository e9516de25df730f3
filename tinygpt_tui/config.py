"""Settings for every stage: data, tokenizer, model, training and sampling.

Each dataclass validates itself in ``__post_init__`` and raises :class:`ConfigError` with one
sentence a user can act on. ``RunConfig`` round-trips through JSON (``config.json`` of a run).
This module imports nothing heavy: the faces load it before torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class TinyGPTError(Exception):
    """An error the user caused or can fix: shown as one sentence and a hint, never a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} Hint: {self.hint}"


class ConfigError(TinyGPTError):
    """A setting has a value that cannot work."""


EOT = "<|endoftext|>"
TOKENIZER_KINDS = ("bpe", "char", "gpt2")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda", "mps")
POSITIONS = ("learned", "rotary")
NORMS = ("layernorm", "rmsnorm")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu2")
OPTIMIZERS = ("adamw", "muon")
SCHEDULES = ("cosine", "wsd")


def parse_size(text: str | int | None) -> int | None:
    """Parse a byte count such as ``5MB``, ``200k``, ``1.5G`` or ``12345``; None stays None."""
    if text is None or isinstance(text, int):
        return text
    s = str(text).strip().lower().replace("_", "")
    if s in ("", "none", "all"):
        return None
    units = {"gib": 1 << 30, "mib": 1 << 20, "kib": 1 << 10, "gb": 10**9, "mb": 10**6, "kb": 10**3,
             "g": 10**9, "m": 10**6, "k": 10**3, "b": 1}
    num, mult = s, 1
    for unit, factor in units.items():
        if s.endswith(unit):
            num, mult = s[: -len(unit)], factor
            break
    try:
        value = float(num)
    except ValueError:
        raise ConfigError(f"'{text}' is not a size.", "write it like 5MB, 200k or 1000000.") from None
    if not math.isfinite(value):
        raise ConfigError(f"'{text}' is not a finite size.", "write it like 5MB, 200k or 1000000.")
    if value < 0:
        raise ConfigError(f"'{text}' is negative.", "sizes must be zero or more.")
    return int(value * mult)


def _check(cond: bool, message: str, hint: str | None = None) -> None:
    if not cond:
        raise ConfigError(message, hint)


SEED_LIMIT = 2**32
"""Seeds feed numpy's and Python's generators as well as torch's: 0 <= seed < 2^32 suits them all."""

# Upper bounds on sizes: far above anything this workbench trains, low enough that a typo (n_layer
# 10**9) is refused at once rather than after data preparation as an out-of-memory kill. Whether a
# shape fits this machine's memory is checked when training starts (runs.training_memory).
LIMITS = {"n_layer": 1024, "n_head": 1024, "n_embd": 65536, "block_size": 1 << 20, "vocab_size": 1 << 21,
          "batch_size": 1 << 16, "grad_accum": 1 << 16, "max_steps": 10**9, "eval_interval": 10**9,
          "eval_iters": 1 << 20, "log_interval": 10**9}

HISTORY_LIMIT = 1000
"""The most checkpoints a run's history may keep (each is a copy of the weights)."""


def _check_seed(seed: Any) -> None:
    _check(isinstance(seed, int) and 0 <= seed < SEED_LIMIT, f"seed {seed} is out of range.",
           f"use a whole number from 0 to {SEED_LIMIT - 1}.")


def _check_finite(name: str, value: Any) -> None:
    _check(isinstance(value, (int, float)) and math.isfinite(value), f"{name} {value} is not a finite number.",
           f"give {name} an ordinary number.")


@dataclass
class DataConfig:
    source: str = "storybook"
    """Source spec: ``storybook``, ``hf:ID``, a path to a .txt/.jsonl/.parquet file or folder, or a
    mixture such as ``0.7*storybook + 0.3*hf:wikitext``. See :mod:`tinygpt_tui.sources`."""
    dataset: str = ""
    """Name of the prepared dataset folder under ``data/``; derived from the source when empty."""
    max_bytes: int | None = None
    """Cap on the corpus size in bytes (None: the source's own default)."""
    val_fraction: float = 0.01
    """Share of documents held out for validation."""
    seed: int = 1337
    """Seed for the story generator, sampling and the train/val split."""

    def __post_init__(self) -> None:
        self.max_bytes = parse_size(self.max_bytes)
        _check(bool(self.source.strip()), "The data source is empty.", "try --source storybook.")
        _check(0.0 < self.val_fraction < 0.5, f"val_fraction {self.val_fraction} is out of range.",
               "use a value between 0 and 0.5, e.g. 0.01.")
        _check_seed(self.seed)


@dataclass
class TokenizerConfig:
    kind: str = "bpe"
    """``bpe`` (byte-level BPE trained here), ``char`` (one token per character) or ``gpt2`` (tiktoken)."""
    vocab_size: int = 8192
    """Target vocabulary size for BPE, specials included. Ignored for char and gpt2."""
    min_frequency: int = 2
    """A pair must occur this often to be merged (BPE)."""
    special_tokens: list[str] = field(default_factory=lambda: [EOT])
    """Special tokens; ``<|endoftext|>`` is always first."""
    train_bytes: int | None = 50_000_000
    """Train BPE on at most this many bytes of the corpus (memory grows with the corpus)."""

    def __post_init__(self) -> None:
        self.train_bytes = parse_size(self.train_bytes)
        _check(self.kind in TOKENIZER_KINDS, f"Unknown tokenizer kind '{self.kind}'.",
               f"choose one of {', '.join(TOKENIZER_KINDS)}.")
        _check(all(isinstance(s, str) and s for s in self.special_tokens), "A special token is empty.",
               "name special tokens like <|im_start|>.")
        specials = [EOT] + [s for s in self.special_tokens if s != EOT]
        self.special_tokens = list(dict.fromkeys(specials))
        _check(self.min_frequency >= 1, "min_frequency must be at least 1.")
        if self.kind == "bpe":
            floor = 256 + len(self.special_tokens)
            _check(self.vocab_size >= floor,
                   f"A vocabulary of {self.vocab_size} is smaller than the 256-byte alphabet plus "
                   f"{len(self.special_tokens)} special token(s).",
                   f"use --vocab-size {floor} or more (8192 is the default).")
            _check(self.vocab_size <= 1 << 20, f"A vocabulary of {self.vocab_size} is too large.",
                   "stay at or below 1048576.")


@dataclass
class ModelConfig:
    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block; must divide n_embd."""
    n_embd: int = 256
    """Width of the residual stream."""
    block_size: int = 256
    """Context length in tokens."""
    vocab_size: int = 8192
    """Set from the tokenizer when a run is created."""
    dropout: float = 0.0
    """Dropout on the embeddings and on each block's output while training (and on the attention
    probabilities unless attn_dropout says otherwise)."""
    attn_dropout: float | None = None
    """Dropout on the attention probabilities while training; unset means the same as dropout. On a
    CPU it is the costly part of dropout: it takes attention off its fused path."""
    bias: bool = False
    """Biases in Linear and LayerNorm layers."""
    tie_weights: bool = True
    """Share the token embedding with the output head."""
    # The options below default to GPT-2 as nanoGPT writes it (the "classic" shape); a run written
    # before they existed has none of them in its config.json and loads as that shape.
    position: str = "learned"
    """``learned`` position embeddings (GPT-2) or ``rotary`` (RoPE: positions rotate queries and keys)."""
    norm: str = "layernorm"
    """``layernorm`` (with a learned scale) or ``rmsnorm`` (no weights: one thing less to learn)."""
    qk_norm: bool = False
    """RMS-normalise queries and keys per head before attention (keeps attention logits bounded)."""
    activation: str = "gelu"
    """MLP non-linearity: ``gelu`` (exact), ``gelu_tanh`` (GPT-2's tanh approximation, ``gelu_new``, for
    imported GPT-2 models) or ``relu2`` (ReLU squared)."""
    zero_init: bool = False
    """Start every residual projection (and an untied head) at zero, so each block begins as identity."""
    logit_softcap: float = 0.0
    """Squash logits smoothly into (-cap, cap) with ``cap * tanh(logits / cap)``; 0 turns it off."""
    rope_base: float = 10000.0
    """Base of the rotary frequencies."""
    x0_mix: bool = False
    """Before each block, mix the embedding back into the stream, ``a * x + b * x0`` with two learned
    scalars per block (starting at 1 and 0): every layer can read the tokens themselves directly."""
    value_residual: bool = False
    """Every layer after the first adds the first layer's attention values to its own,
    ``a * v + b * v1`` with two learned scalars per layer (starting at 0.5 and 0.5)."""

    def __post_init__(self) -> None:
        _check(self.position in POSITIONS, f"Unknown position scheme '{self.position}'.",
               f"choose one of {', '.join(POSITIONS)}.")
        _check(self.norm in NORMS, f"Unknown norm '{self.norm}'.", f"choose one of {', '.join(NORMS)}.")
        _check(self.activation in ACTIVATIONS, f"Unknown activation '{self.activation}'.",
               f"choose one of {', '.join(ACTIVATIONS)}.")
        _check(isinstance(self.logit_softcap, (int, float)) and self.logit_softcap >= 0,
               "logit_softcap must be zero (off) or a positive number.")
        for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, f"{name} must be a positive integer, not {value!r}.")
            _check(value <= LIMITS[name], f"{name} {value} is far too large.", f"use at most {LIMITS[name]}.")
        for name in ("dropout", "logit_softcap", "rope_base"):
            _check_finite(name, getattr(self, name))
        _check(self.n_embd % self.n_head == 0,
               f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}.",
               "pick a width that is a multiple of the number of heads.")
        _check(0.0 <= self.dropout < 1.0, f"dropout {self.dropout} must be in [0, 1).")
        if self.attn_dropout is not None:
            _check_finite("attn_dropout", self.attn_dropout)
            _check(0.0 <= self.attn_dropout < 1.0, f"attn_dropout {self.attn_dropout} must be in [0, 1).",
                   "leave it unset to use dropout's value.")
        _check(self.position != "rotary" or (self.n_embd // self.n_head) % 2 == 0,
               f"Rotary positions need an even head size, not {self.n_embd // self.n_head}.",
               "change n_embd or n_head so that n_embd / n_head is even.")


@dataclass
class TrainConfig:
    batch_size: int = 32
    """Sequences per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    max_steps: int = 2000
    """Optimizer steps to train for (the schedule's length unless max_time is set)."""
    max_time: float | None = None
    """Wall-clock budget in seconds; when set, training stops then and the schedule fits itself to it."""
    optimizer: str = "adamw"
    """``adamw`` for every parameter, or ``muon``: Muon for the blocks' matrices and AdamW for the
    embeddings, head, norms and biases."""
    lr: float = 1e-3
    """Peak learning rate of AdamW."""
    min_lr: float = 1e-4
    """Where the decay ends (the same fraction of ``muon_lr`` for Muon)."""
    muon_lr: float = 0.02
    """Peak learning rate of Muon (with ``optimizer: muon``)."""
    schedule: str = "cosine"
    """After warmup: ``cosine`` decay, or ``wsd`` (warmup-stable-decay: hold the peak, then decay
    linearly over the last ``cooldown`` share of the run)."""
    cooldown: float = 0.4
    """Share of the run spent decaying with the ``wsd`` schedule."""
    warmup_steps: int = 100
    """Linear warmup steps (or, with max_time, this share of the budget: warmup_steps/max_steps)."""
    weight_decay: float = 0.1
    """Decoupled weight decay of the matrices: AdamW's (not on norms, biases or embeddings), or under
    ``muon`` Muon's on the blocks' matrices (AdamW then decays nothing)."""
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    """Clip the global gradient norm to this (0 disables)."""
    eval_interval: int = 200
    """Evaluate, sample and checkpoint every this many steps."""
    checkpoint_interval: int = 0
    """Also checkpoint every this many steps, between evaluations (0: at evaluations only)."""
    history: int = 24
    """Keep at most this many weights-only checkpoints of past evaluations in the run's ``history/``
    folder (for the time-lapse), thinned to stay spread over training, the first and the latest always
    kept; 0 keeps none."""
    eval_iters: int = 20
    """Batches averaged for the validation loss."""
    log_interval: int = 10
    """Emit a step event every this many steps."""
    sample_tokens: int = 64
    """Tokens in the sample written at each evaluation."""
    device: str = "auto"
    dtype: str = "auto"
    """``auto`` picks bf16 autocast where supported, else fp16 with a scaler on CUDA, else fp32."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    fit_to_machine: bool = False
    """A new CPU run with a time budget takes its model shape and plan from the compute that budget
    gives on this machine (its measured matmul rate times ``max_time``; presets.py ``MACHINE_FITS``),
    and its dropout from how many times that plan reads its training tokens, once its data is
    prepared (preflight.fit_to_machine). The ``tiny``, ``cpu-10m`` and ``cpu-1h`` presets set it; a
    shape or dropout set by hand is kept."""
    seed: int = 1337

    def __post_init__(self) -> None:
        for name in ("batch_size", "grad_accum", "max_steps", "eval_interval", "eval_iters", "log_interval"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, f"{name} must be a positive integer, not {value!r}.")
            _check(value <= LIMITS[name], f"{name} {value} is far too large.", f"use at most {LIMITS[name]}.")
        for name in ("lr", "min_lr", "muon_lr", "weight_decay", "beta1", "beta2", "grad_clip", "cooldown"):
            _check_finite(name, getattr(self, name))
        if self.max_time is not None:
            _check_finite("max_time", self.max_time)
        _check_seed(self.seed)
        _check(self.warmup_steps >= 0, "warmup_steps must be zero or more.")
        _check(self.lr > 0 and 0 <= self.min_lr <= self.lr, "Learning rates must satisfy 0 <= min_lr <= lr, lr > 0.")
        _check(self.max_time is None or self.max_time > 0, "max_time must be a positive number of seconds.")
        _check(self.device in DEVICES, f"Unknown device '{self.device}'.", f"choose one of {', '.join(DEVICES)}.")
        _check(self.dtype in DTYPES, f"Unknown dtype '{self.dtype}'.", f"choose one of {', '.join(DTYPES)}.")
        _check(self.grad_clip >= 0, "grad_clip must be zero or more.")
        _check(isinstance(self.checkpoint_interval, int) and self.checkpoint_interval >= 0,
               f"checkpoint_interval must be 0 (at evaluations only) or a positive number of steps, "
               f"not {self.checkpoint_interval!r}.")
        _check(isinstance(self.history, int) and (self.history == 0 or 2 <= self.history <= HISTORY_LIMIT),
               f"history must be 0 (none kept) or from 2 to {HISTORY_LIMIT} checkpoints, not {self.history!r}.",
               "24 keeps a time-lapse of a few dozen frames; 0 turns it off.")
        _check(self.optimizer in OPTIMIZERS, f"Unknown optimizer '{self.optimizer}'.",
               f"choose one of {', '.join(OPTIMIZERS)}.")
        _check(self.schedule in SCHEDULES, f"Unknown schedule '{self.schedule}'.",
               f"choose one of {', '.join(SCHEDULES)}.")
        _check(self.muon_lr > 0, "muon_lr must be positive.")
        _check(0.0 < self.cooldown <= 1.0, f"cooldown {self.cooldown} must be in (0, 1].",
               "0.2-0.5 is typical.")


@dataclass
class SamplingConfig:
    temperature: float = 0.8
    """0 means greedy."""
    top_k: int = 50
    """Keep the k most likely tokens (0 disables)."""
    top_p: float = 0.95
    """Keep the smallest set whose probability reaches p (1 disables)."""
    max_new_tokens: int = 200
    num_samples: int = 1
    seed: int | None = None
    """None draws a fresh seed per call."""
    alternatives: int = 5
    """How many top alternatives each token record carries."""
    stop: list[str] = field(default_factory=list)
    """Stop strings besides <|endoftext|>."""

    def __post_init__(self) -> None:
        _check(self.temperature == 0.0 or 1e-3 <= self.temperature <= 10.0,
               f"temperature {self.temperature} is out of range.", "use 0 (greedy) or 0.001 up to 10; 0.7-1.0 is typical.")
        _check(isinstance(self.top_k, int) and self.top_k >= 0, f"top_k {self.top_k} must be 0 or more.",
               "0 turns it off.")
        _check(0.0 < self.top_p <= 1.0, f"top_p {self.top_p} must be in (0, 1].", "1 turns it off.")
        _check(1 <= self.max_new_tokens <= 100_000, f"max_new_tokens {self.max_new_tokens} is out of range.")
        _check(1 <= self.num_samples <= 64, f"num_samples {self.num_samples} must be between 1 and 64.")
        _check(0 <= self.alternatives <= 100, "alternatives must be between 0 and 100.")
        _check(self.seed is None or 0 <= self.seed < 2**62, f"seed {self.seed} is out of range.",
               "use a whole number from 0 to 2^62, or seed=random.")


@dataclass
class RunConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    preset: str = "small"

    def __post_init__(self) -> None:
        _check(valid_run_name(self.name), f"'{self.name}' is not a valid run name.",
               "use letters, digits, '-', '_' or '.', starting with a letter or digit.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step trains on, across every process and micro-batch."""
        return self.train.batch_size * self.train.grad_accum * self.model.block_size

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        sections = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig,
                    "train": TrainConfig, "sampling": SamplingConfig}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key in sections:
                if value is not None and not isinstance(value, dict):
                    raise ConfigError(f"The '{key}' section of the run configuration is not a JSON object.",
                                      "fix or delete the run's config.json.")
                kwargs[key] = _build(sections[key], value or {})
            elif key in ("name", "preset"):
                if not isinstance(value, str):
                    raise ConfigError(f"The run's {key} is {type(value).__name__}, not text.",
                                      "fix or delete the run's config.json.")
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"The run configuration is not valid JSON ({e.msg}, line {e.lineno}).") from None
        except RecursionError:  # nested deeper than the parser's stack: a crafted or damaged file
            raise ConfigError("The run configuration is nested too deeply to be a configuration.") from None
        if not isinstance(d, dict):
            raise ConfigError("The run configuration is not a JSON object.")
        return cls.from_dict(d)


def _build(cls: type, values: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"Unknown {cls.__name__} setting(s): {', '.join(unknown)}.",
                          f"known settings: {', '.join(sorted(known))}.")
    types = {f.name: str(f.type) for f in fields(cls)}
    for key, value in values.items():
        if key in ("max_bytes", "train_bytes") and isinstance(value, str):
            continue  # a size written like "5MB": parse_size checks it
        if not _has_type(value, types[key]):
            raise ConfigError(f"{cls.__name__} setting {key} is {value!r}, not of type {types[key]}.",
                              "fix or delete the run's config.json.")
    try:
        return cls(**values)
    except (TypeError, AttributeError, ValueError) as e:
        raise ConfigError(f"Bad {cls.__name__} settings: {e}.") from None


def _has_type(value: Any, annotation: str) -> bool:
    """Whether a value read from JSON fits a field's annotation (``int``, ``float | None``,
    ``list[str]``...): a crafted config.json gets a sentence, not a TypeError from deep inside."""
    for option in (a.strip() for a in annotation.split("|")):
        if option == "None" and value is None:
            return True
        if option == "bool" and isinstance(value, bool):
            return True
        if option == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option == "str" and isinstance(value, str):
            return True
        if option.startswith("list[") and isinstance(value, list):
            inner = option[5:-1]
            return all(_has_type(v, inner) for v in value)
    return False


def valid_run_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name or "")) and ".." not in name


def parse_special_tokens(text: str) -> list[str]:
    """The special tokens a user listed (``"<|im_start|> <|im_end|>, <|pad|>"``), in order, once each:
    spaces or commas separate them, as in ``--special`` and ``--set tokenizer.special_tokens``."""
    return list(dict.fromkeys(t for t in re.split(r"[\s,]+", text.strip()) if t))


def coerce_value(cls: type, name: str, raw: str) -> Any:
    """Turn the string ``raw`` into the type of field ``name`` of dataclass ``cls`` (for CLI/slash overrides)."""
    hints = {f.name: f for f in dataclasses.fields(cls)}
    if name not in hints:
        raise ConfigError(f"'{name}' is not a {cls.__name__} setting.",
                          f"known settings: {', '.join(sorted(hints))}.")
    default = getattr(cls(), name)
    typ = str(hints[name].type)
    text = raw.strip()
    try:
        if isinstance(default, bool) or typ == "bool":
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if text.lower() in ("none", "null") and "None" in typ:
            return None
        if name in ("max_bytes", "train_bytes"):
            return parse_size(text)  # a size, written like 5MB or 200k
        if isinstance(default, int) or typ.startswith("int"):
            return int(float(text)) if float(text).is_integer() else int(text)
        if isinstance(default, float) or typ.startswith("float"):
            return float(text)
        if name == "special_tokens":
            return parse_special_tokens(text)
        if isinstance(default, list):
            return [s for s in text.split(",") if s]
        return text
    except ValueError:
        raise ConfigError(f"'{raw}' is not a valid value for {name}.",
                          f"{name} takes a {type(default).__name__ if default is not None else typ}.") from None


RUN_SECTIONS: dict[str, type] = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig,
                                 "train": TrainConfig}
"""The sections of a run's configuration that ``SECTION.KEY=VALUE`` settings may change."""


def parse_settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """``SECTION.KEY=VALUE`` settings (``model.value_residual=true``) as overrides by section, each value
    typed like its field."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        section, _, name = key.strip().partition(".")
        if section not in RUN_SECTIONS or not name or not eq or not raw.strip():
            raise ConfigError(f"'{item}' is not a SECTION.KEY=VALUE setting.",
                              f"SECTION is one of {', '.join(RUN_SECTIONS)}, e.g. model.value_residual=true.")
        out.setdefault(section, {})[name] = coerce_value(RUN_SECTIONS[section], name, raw)
    return out
