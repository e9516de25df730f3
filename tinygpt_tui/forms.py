"""New runs from what a face asks for: the TUI's new-run form, the quick start, ``tinygpt train`` flags.

Every face builds a run's configuration here, so a bad value gets the same sentence everywhere. The
checks are config.py's own (the dataclasses' ``__post_init__``); nothing here imports torch or a UI.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import config as cfgmod
from . import runs
from .config import (
    ConfigError,
    DataConfig,
    RunConfig,
    TinyGPTError,
    TokenizerConfig,
    parse_special_tokens,
    valid_run_name,
)
from .present import error_sentence
from .presets import PRESETS, preset_config

QUICK_START_PRESET = "tiny"
QUICK_START_SOURCE = "storybook"


# --------------------------------------------------------------------------------------------------
# The "new run" form


@dataclass
class RunForm:
    """The fields of the "new run" form, as the user typed them (strings)."""

    name: str = "quick"
    source: str = "storybook"
    tokenizer: str = "bpe"
    vocab_size: str = ""
    preset: str = "tiny"
    steps: str = ""
    nproc: str = "1"
    """Training processes (DDP through torchrun); a launch choice, not part of the run's config."""
    special: str = ""
    """Extra special tokens besides ``<|endoftext|>``, separated by spaces or commas."""


def validate_run_form(form: RunForm, existing: set[str] | None = None) -> dict[str, str]:
    """Check each field of ``form``; return ``{field: one-sentence message}`` for the bad ones.

    The checks are config.py's own, so the form says exactly what ``tinygpt train`` would say.
    ``existing`` names runs that already exist.
    """
    errors: dict[str, str] = {}
    if not valid_run_name(form.name.strip()):
        errors["name"] = "Use letters, digits, '-', '_' or '.', starting with a letter or digit."
    elif existing and form.name.strip() in existing:
        errors["name"] = f"A run named '{form.name.strip()}' already exists; pick another name."
    try:
        DataConfig(source=form.source)
    except ConfigError as e:
        errors["source"] = field_message(e)
    if form.preset not in PRESETS:
        errors["preset"] = f"Unknown preset '{form.preset}'; choose one of {', '.join(PRESETS)}."
    vocab = form.vocab_size.strip()
    try:
        size = int(vocab) if vocab else _preset_vocab(form.preset)
        TokenizerConfig(kind=form.tokenizer, vocab_size=size, special_tokens=parse_special_tokens(form.special))
    except ValueError:
        errors["vocab_size"] = f"'{vocab}' is not a whole number."
    except ConfigError as e:
        errors["vocab_size" if form.tokenizer in cfgmod.TOKENIZER_KINDS else "tokenizer"] = field_message(e)
    steps = form.steps.strip()
    if steps:
        try:
            if int(steps) < 1:
                raise ValueError
        except ValueError:
            errors["steps"] = f"'{steps}' is not a positive whole number of steps."
    nproc = form.nproc.strip() or "1"
    if not nproc.isdigit() or int(nproc) < 1:
        errors["nproc"] = f"'{nproc}' is not a positive whole number of processes."
    elif form.preset in PRESETS:
        accum = PRESETS[form.preset].get("train", {}).get("grad_accum", 1)
        if accum % int(nproc):
            errors["nproc"] = (f"The preset's {accum} micro-batches per step do not divide across {nproc} processes "
                               f"(the global batch is kept); choose a number that divides {accum}.")
    return errors


def run_config_from_form(form: RunForm) -> RunConfig:
    """Build the RunConfig a valid form describes (raises TinyGPTError where it is not valid)."""
    errors = validate_run_form(form)
    if errors:
        field_name, message = next(iter(errors.items()))
        raise ConfigError(message, f"fix the {field_name.replace('_', ' ')} field.")
    overrides: dict[str, dict[str, Any]] = {
        "data": {"source": form.source.strip()},
        "tokenizer": {"kind": form.tokenizer},
    }
    if form.vocab_size.strip():
        overrides["tokenizer"]["vocab_size"] = int(form.vocab_size)
    if parse_special_tokens(form.special):
        overrides["tokenizer"]["special_tokens"] = parse_special_tokens(form.special)
    if form.steps.strip():
        steps = int(form.steps)
        overrides["train"] = {"max_steps": steps}
        # a short run still wants a few evaluations and a warmup that fits inside it
        preset_train = PRESETS[form.preset].get("train", {})
        if preset_train.get("eval_interval", 200) > steps:
            overrides["train"]["eval_interval"] = max(1, steps // 4)
        if preset_train.get("warmup_steps", 100) >= steps:
            overrides["train"]["warmup_steps"] = max(0, steps // 10)
        if preset_train.get("log_interval", 10) > steps:
            overrides["train"]["log_interval"] = 1
    return preset_config(form.preset, form.name.strip(), overrides)


def field_message(err: TinyGPTError) -> str:
    """One form field's message: the error's sentence, its hint in brackets ("message (hint)")."""
    message, hint = error_sentence(err)
    return message if not hint else f"{message} ({hint})"


def _preset_vocab(preset: str) -> int:
    return int(PRESETS.get(preset, {}).get("tokenizer", {}).get("vocab_size", TokenizerConfig().vocab_size))


# --------------------------------------------------------------------------------------------------
# The quick start


def quick_start_config(name: str = "quick") -> RunConfig:
    """The quick start: preset ``tiny`` on the built-in story corpus, run name ``quick``."""
    return preset_config(QUICK_START_PRESET, name,
                         {"data": {"source": QUICK_START_SOURCE}, "tokenizer": {"kind": "bpe"}})


# --------------------------------------------------------------------------------------------------
# A run from a preset and overrides, or an existing run with changed settings (``tinygpt train``)

# settings that decide the model's shape, its vocabulary or its data: fixed once a run has a tokenizer
# or weights
SHAPE_KEYS = {
    ("model", "n_layer"), ("model", "n_head"), ("model", "n_embd"), ("model", "block_size"),
    ("model", "bias"), ("model", "tie_weights"), ("tokenizer", "kind"), ("tokenizer", "vocab_size"),
    ("tokenizer", "special_tokens"),
    ("data", "source"), ("data", "dataset"), ("data", "max_bytes"), ("data", "val_fraction"), ("data", "seed"),
}

# the rest of the model's architecture (what its weights mean; of the model's settings only the
# dropouts, for training, and zero_init, for initialisation, may change later) and the optimizer
# (what its checkpoint's state holds): fixed once a run has weights or a checkpoint. An imported start
# point has no optimizer state, so its optimizer may still change.
WEIGHT_KEYS = {("model", f.name) for f in fields(cfgmod.ModelConfig)
               if f.name not in ("dropout", "attn_dropout", "zero_init")} - SHAPE_KEYS
OPTIMIZER_KEYS = {("train", "optimizer")}

# settings that decide which batches training reads: fixed once a run has a resume point
# (checkpoint.RESUME_KEYS refuses a config.json edited by hand the same way)
RESUME_KEYS = {("train", "batch_size"), ("train", "grad_accum"), ("train", "seed")}


def _start_point(run: Path) -> bool:
    """Whether the run's resume point is an imported start point (no batch read yet: any batch size)."""
    return bool((runs.state_summary(run) or {}).get("start_point"))


def _changes(d: Path, name: str, cfg: RunConfig,
             overrides: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The configuration of existing run ``name`` (folder ``d``) as a dict after ``overrides``, and the
    changes as ``key=value``; raises TinyGPTError, having written nothing, for a change the run's
    tokenizer, weights or checkpoint forbid."""
    has_weights = (d / runs.STATE).exists() or (d / runs.WEIGHTS).exists()
    started = has_weights or (d / runs.TOKENIZER).exists()
    resumable = (d / runs.STATE).exists() and not _start_point(d)
    current = cfg.to_dict()
    changed: list[str] = []
    for section, values in overrides.items():
        for key, value in values.items():
            was = current[section].get(key)
            if was == value:
                continue
            if ((section, key) in SHAPE_KEYS and started or (section, key) in WEIGHT_KEYS and has_weights
                    or (section, key) in OPTIMIZER_KEYS and resumable):
                what = {"model": "the model", "tokenizer": "its vocabulary", "data": "its data",
                        "train": "what its checkpoint holds"}[section]
                raise TinyGPTError(
                    f"Run '{name}' already has {key} = {was!r}; changing it to {value!r} would change {what}.",
                    "drop that setting to resume the run, or start a new run under another --run name.")
            if (section, key) in RESUME_KEYS and resumable:
                raise TinyGPTError(
                    f"Run '{name}' has a checkpoint trained with {key} = {was!r}; "
                    f"changing it to {value!r} would change the batches it resumes on.",
                    "drop that setting to resume the run, or start a new run under another --run name.")
            current[section][key] = value
            changed.append(f"{key}={value}")
    return current, changed


def check_changes(models: Path, name: str, overrides: dict[str, dict[str, Any]]) -> None:
    """Raise, writing nothing, the refusal :func:`configure_run` would give for ``overrides`` on run
    ``name`` (nothing for a run that does not exist yet)."""
    d = runs.run_dir(models, name)
    if runs.run_exists(d):
        _changes(d, name, runs.load_run_config(d), overrides)


def configure_run(models: Path, name: str, preset: str | None,
                  overrides: dict[str, dict[str, Any]]) -> tuple[RunConfig, list[str]]:
    """The configuration of run ``name`` in the models folder ``models`` after ``overrides``, written
    to its ``config.json``, and notes for the user.

    A new run: ``preset`` (default tiny) plus the overrides. An existing run: its own configuration;
    training settings may change, the shape may not once it has a tokenizer or weights, nor the
    architecture and optimizer once it has weights or a checkpoint (see :func:`_changes`).
    """
    notes: list[str] = []
    d = runs.run_dir(models, name)  # validates the name
    if not runs.run_exists(d):
        cfg = preset_config(preset or QUICK_START_PRESET, name, overrides)
        runs.create_run(models, cfg)
        return cfg, [f"created run '{name}' from preset {cfg.preset}"]

    cfg = runs.load_run_config(d)
    if preset and preset != cfg.preset:
        notes.append(f"run '{name}' exists (preset {cfg.preset}): --preset {preset} is ignored")
    current, changed = _changes(d, name, cfg, overrides)
    if changed:
        cfg = RunConfig.from_dict(current)
        # a run another process trains keeps its settings: the change is written under the lock,
        # so a trainer refused for that lock has changed nothing
        runs.acquire_lock(d)
        try:
            runs.save_run_config(d, cfg)
        finally:
            runs.release_lock(d)
        notes.append("changed " + ", ".join(changed))
    return cfg, notes
