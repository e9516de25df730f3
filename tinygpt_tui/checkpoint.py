"""The checkpoint codec: weights, optimizer moments and RNG states in safetensors, and back.

::

    model.safetensors / best.safetensors   weights only ("tinygpt-weights"), for inference
    state.safetensors                      the resume point ("tinygpt-state"): ``model.*`` weights,
                                           ``optim.<i>.<name>`` optimizer tensors, ``rng.torch`` /
                                           ``rng.cuda``; its header holds the JSON scalars (step,
                                           elapsed time, best validation, python/numpy RNG, ...)

Every file carries a CRC-32 of its tensor bytes (safetensors checks its header and sizes, not the
data) and is written through :mod:`atomic` (temporary file, fsync, rename): a crash leaves the old file
or the new one, never half of one. Nothing here unpickles. Which files a run has, and the header-only
summary used to list runs, live in :mod:`runs`.
"""

from __future__ import annotations

import json
import random
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import runs
from .atomic import atomic_path, atomic_write_text
from .config import RunConfig, TinyGPTError
from .runs import STATE_FORMAT, STATE_VERSION, WEIGHTS_FORMAT

if TYPE_CHECKING:  # pragma: no cover
    from .model import GPT
    from .tokenizer import Tokenizer

__all__ = ["WEIGHTS_FORMAT", "STATE_FORMAT", "STATE_VERSION", "tensors_crc32", "atomic_save_tensors",
           "weights_state_dict", "load_weights_into", "save_weights", "read_safetensors", "load_model",
           "check_vocab", "save_state", "load_state", "check_resume_point", "check_batches", "check_corpus", "pack_training_state",
           "restore_training_state", "restore_rng", "save_checkpoint"]

Tensors = dict[str, torch.Tensor]


# --------------------------------------------------------------------------------------------------
# safetensors files with a checksum


def tensors_crc32(tensors: Tensors) -> str:
    """A CRC-32 over names and bytes of ``tensors``: safetensors checks its header and sizes but
    not the bytes, so a flipped bit in the data would otherwise load silently."""
    crc = 0
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        crc = zlib.crc32(key.encode(), crc)
        crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy().tobytes(), crc)
    return f"{crc:08x}"


def atomic_save_tensors(path: Path, tensors: Tensors, metadata: dict[str, str]) -> None:
    """Save ``tensors`` with ``metadata`` (plus a CRC of the data) atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {**metadata, "crc32": tensors_crc32(tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_safetensors(path: Path, want_format: str) -> tuple[Tensors, dict[str, str]]:
    """Read every tensor and the metadata of a safetensors file written by this project.

    A missing, truncated, corrupt or foreign file raises one clear TinyGPTError.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise TinyGPTError(f"{path} does not exist.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = dict(f.metadata() or {})
            if meta.get("format") != want_format:
                raise TinyGPTError(f"{path} is not a {want_format} file written by tinygpt.",
                                   "it may come from another program; remove it or pick another run.")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if "crc32" in meta and tensors_crc32(tensors) != meta["crc32"]:
            raise ValueError("the data does not match its checksum")
    except TinyGPTError:
        raise
    except Exception as e:  # safetensors raises its own error types for bad headers and sizes
        raise TinyGPTError(f"{path} is corrupt or truncated ({type(e).__name__}: {str(e)[:120]}).",
                           "the file cannot be read; restore it or train the run again.") from None
    return tensors, meta


# --------------------------------------------------------------------------------------------------
# weights


def weights_state_dict(model: GPT) -> Tensors:
    """The model's tensors with the tied head left out (safetensors stores no shared tensors)."""
    sd = dict(model.state_dict())
    if model.config.tie_weights:
        sd.pop("lm_head.weight", None)
    return sd


def load_weights_into(model: GPT, tensors: Tensors, path: Path) -> None:
    """Copy ``tensors`` into ``model``, refusing with one sentence when names or shapes differ."""
    expected = weights_state_dict(model)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        what = f"lacks {missing[0]}" if missing else f"has an unknown tensor {unexpected[0]}"
        raise TinyGPTError(f"{path} does not match this run's model: it {what}.",
                           "the file may belong to another model; train the run again or pick the right run.")
    for key, ref in expected.items():
        if tuple(tensors[key].shape) != tuple(ref.shape):
            raise TinyGPTError(
                f"{path} does not match this run's model: {key} is {tuple(tensors[key].shape)}, "
                f"the configuration needs {tuple(ref.shape)}.",
                "the weights were trained with another shape or vocabulary.")
    model.load_state_dict(tensors, strict=False)  # the tied head follows the embedding


def save_weights(path: Path, model: GPT, *, step: int, val_loss: float | None = None,
                 tokens: int | None = None) -> None:
    """Write the model's weights (for inference) with their step, validation loss and (where given)
    the training tokens seen in the header."""
    meta = {"format": WEIGHTS_FORMAT, "step": str(step),
            "val_loss": "" if val_loss is None else repr(float(val_loss)),
            "vocab_size": str(model.config.vocab_size)}
    if tokens is not None:
        meta["tokens"] = str(int(tokens))
    atomic_save_tensors(path, weights_state_dict(model), meta)


def check_vocab(cfg: RunConfig, tok: Tokenizer, name: str) -> None:
    """Refuse a tokenizer whose vocabulary is not the one the run's model was built for."""
    if cfg.model.vocab_size != tok.vocab_size:
        raise TinyGPTError(
            f"Run '{name}' has a model vocabulary of {cfg.model.vocab_size} but its tokenizer has "
            f"{tok.vocab_size} tokens.",
            "tokenizer.json was replaced or belongs to another run; restore the original one.")


def load_model(run: Path, which: str = "best", device: str = "cpu") -> tuple[GPT, Tokenizer, RunConfig]:
    """Load the model of the run in folder ``run`` (``best`` falls back to ``latest`` before the first
    evaluation), its tokenizer and configuration. The model is in eval mode on ``device``."""
    from .device import resolve_device
    from .model import GPT
    from .tokenizer import load_tokenizer

    if which not in ("best", "latest"):
        raise TinyGPTError(f"Unknown checkpoint '{which}'.", "choose best or latest.")
    name = run.name
    cfg = runs.load_run_config(run)
    d = run
    path = d / (runs.BEST if which == "best" else runs.WEIGHTS)
    if which == "best" and not path.is_file():
        path = d / runs.WEIGHTS
    if not path.is_file() and (d / runs.STATE).is_file():
        # a process killed between the first resume point and the latest weights leaves the weights
        # only in the resume point: they are the latest ones
        path = d / runs.STATE
    if not path.is_file():
        raise TinyGPTError(f"Run '{name}' has no trained weights yet.",
                           f"train it first: tinygpt train --run {name}")
    tok = load_tokenizer(d / runs.TOKENIZER)
    check_vocab(cfg, tok, name)
    if path.name == runs.STATE:
        state, _ = read_safetensors(path, STATE_FORMAT)
        tensors = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    else:
        tensors, _ = read_safetensors(path, WEIGHTS_FORMAT)
    model = GPT(cfg.model)
    load_weights_into(model, tensors, path)
    return model.to(resolve_device(device)).eval(), tok, cfg


# --------------------------------------------------------------------------------------------------
# the resume point: state.safetensors (+ state.json, a readable copy)


def save_state(run: Path, tensors: Tensors, scalars: dict[str, Any]) -> Path:
    """Write the resume point of the run in folder ``run`` atomically: ``tensors`` and, in the header,
    the JSON ``scalars``."""
    d = run
    scalars = {"format": STATE_FORMAT, "version": STATE_VERSION, **scalars}
    text = json.dumps(scalars, separators=(",", ":"))
    atomic_save_tensors(d / runs.STATE, tensors, {"format": STATE_FORMAT, "step": str(scalars.get("step", 0)),
                                                  "state": text})
    readable = {k: v for k, v in scalars.items() if k not in ("python_random", "numpy_random")}
    atomic_write_text(d / runs.STATE_JSON, json.dumps(readable, indent=2) + "\n")
    return d / runs.STATE


def load_state(run: Path) -> tuple[Tensors, dict[str, Any]] | None:
    """The resume point of the run in folder ``run``, or None when it has none. Corrupt files raise
    TinyGPTError."""
    path = run / runs.STATE
    if not path.exists():
        return None
    tensors, meta = read_safetensors(path, STATE_FORMAT)
    try:
        scalars = json.loads(meta["state"])
        if not isinstance(scalars, dict) or int(scalars["step"]) != int(meta["step"]):
            raise ValueError("inconsistent step")
    except (KeyError, ValueError, TypeError, RecursionError):
        raise TinyGPTError(f"{path} has an unreadable training state.",
                           "restore the file or start a new run.") from None
    if scalars.get("version") != STATE_VERSION:
        raise TinyGPTError(f"{path} was written by another version of tinygpt (state version "
                           f"{scalars.get('version')}).", "start a new run.")
    return tensors, scalars


def check_resume_point(run: Path, cfg: RunConfig, tok: Tokenizer | None,
                       data: Path | None = None) -> tuple[Tensors, dict[str, Any]] | None:
    """Validate an existing resume point before anything is written; returns it (or None). With the
    data folder ``data``, the corpus the run would now read is checked against it too."""
    d, name = run, run.name
    resume = load_state(run)
    if resume is None:
        if (d / runs.WEIGHTS).exists():
            raise TinyGPTError(f"Run '{name}' has weights but no training state (state.safetensors), so it "
                               "cannot be resumed.", "train under a new --run name, or restore the state file.")
        return None
    s = resume[1]
    if tok is None:
        raise TinyGPTError(f"Run '{name}' has a checkpoint but no tokenizer.json.",
                           "restore the run's tokenizer.json; a new tokenizer would not match the weights.")
    check_vocab(cfg, tok, name)
    if s.get("vocab_size") != tok.vocab_size or s.get("tokenizer_fingerprint") != tok.fingerprint():
        raise TinyGPTError(f"The checkpoint of run '{name}' was trained with another tokenizer "
                           f"(vocabulary {s.get('vocab_size')}, the run's tokenizer has {tok.vocab_size}).",
                           "restore the original tokenizer.json or start a new run.")
    shape = {k: v for k, v in vars(cfg.model).items() if k != "dropout"}
    saved = {k: v for k, v in (s.get("model") or {}).items() if k != "dropout"}
    if saved and saved != shape:
        diff = ", ".join(f"{k} {saved.get(k)} -> {shape.get(k)}" for k in shape if saved.get(k) != shape.get(k))
        raise TinyGPTError(f"config.json of run '{name}' no longer matches its checkpoint ({diff}).",
                           "restore config.json or start a new run.")
    check_batches(name, cfg, s)
    if data is not None:
        check_corpus(name, s, data, cfg)
    return resume


RESUME_KEYS = ("batch_size", "grad_accum", "seed")
"""Training settings that decide which batches a resumed run reads: fixed once it has a checkpoint."""


def check_batches(name: str, cfg: RunConfig, s: dict[str, Any]) -> None:
    """Refuse a resume whose batch size, gradient accumulation or seed differ from its checkpoint's
    (a resume point from before they were recorded has none to compare)."""
    for key in RESUME_KEYS:
        saved, now = s.get(key), getattr(cfg.train, key)
        if saved is not None and saved != now:
            raise TinyGPTError(
                f"Run '{name}' was trained with {key} {saved}; resuming it with {now} would change the "
                f"batches it reads, so it would not continue the same training.",
                f"set {key} back to {saved} (--{key.replace('_', '-')} {saved}), or start a new run under "
                f"another --run name.")


def check_corpus(name: str, s: dict[str, Any], data: Path, cfg: RunConfig) -> str | None:
    """Refuse a resume whose corpus is not the text its checkpoint was trained on: a local source
    file edited since (preparing would rebuild corpus and shards under the run), or a dataset
    prepared again from other text. Returns the current corpus's sha256 (None while none is prepared).
    A resume point from before the fingerprint was kept has none to compare."""
    from .corpora import corpus_state

    state, sha = corpus_state(data, cfg.data)
    saved = s.get("corpus_sha256")
    if not isinstance(saved, str) or state == "missing":
        return sha
    if state == "stale" or sha != saved:
        what = ("a file of its source changed since" if state == "stale" and sha == saved
                else "its dataset was prepared again from other text")
        raise TinyGPTError(
            f"Run '{name}' was trained on another text of {cfg.data.source}: {what} its last checkpoint, so "
            f"resuming would train it on different data.",
            "restore the file to resume the run, or start a new run under another --run name for the new "
            "text (an unchanged text prepared again with tinygpt data prepare resumes).")
    return sha


# --------------------------------------------------------------------------------------------------
# a trainer's state <-> tensors and scalars


def pack_training_state(model: GPT, optimizer: torch.optim.Optimizer, scaler: Any, device: torch.device,
                        scalars: dict[str, Any]) -> tuple[Tensors, dict[str, Any]]:
    """Everything a resume needs: the weights, the optimizer's tensors, every RNG state, and the
    caller's ``scalars`` (step, elapsed, ...) completed with what is not a tensor."""
    tensors = {f"model.{k}": v for k, v in weights_state_dict(model).items()}
    nontensor: dict[str, dict[str, Any]] = {}
    for idx, st in optimizer.state_dict()["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v
            else:
                nontensor.setdefault(str(idx), {})[k] = v
    tensors["rng.torch"] = torch.get_rng_state()
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    np_state = np.random.get_state()
    py_state = random.getstate()
    scalars = {
        **scalars, "optimizer_state": nontensor,
        "scaler": scaler.state_dict() if scaler else None,
        "python_random": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy_random": [np_state[0], np_state[1].tolist(), *[float(v) for v in np_state[2:]]],
        "saved": time.time(),
    }
    return tensors, scalars


def restore_training_state(model: GPT, optimizer: torch.optim.Optimizer, scaler: Any, tensors: Tensors,
                           scalars: dict[str, Any], path: Path) -> None:
    """Load weights, optimizer moments and the loss scaler from a resume point read from ``path``.
    The optimizer's hyper-parameters come from the configuration; only its moments are restored."""
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    load_weights_into(model, weights, path)
    fresh = optimizer.state_dict()
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for idx, extra in (scalars.get("optimizer_state") or {}).items():
        state.setdefault(int(idx), {}).update(extra)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, st in state.items():
        moments = [v for k, v in st.items() if k.startswith("exp_avg") and torch.is_tensor(v)]
        if i >= len(params) or any(m.shape != params[i].shape for m in moments):
            raise TinyGPTError(f"{path} holds optimizer state for another model.", "start a new run.")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": fresh["param_groups"]})
    except (ValueError, RuntimeError, KeyError) as e:
        raise TinyGPTError(f"{path} has optimizer state that does not fit this model ({e}).",
                           "start a new run.") from None
    if scaler and scalars.get("scaler"):
        scaler.load_state_dict(scalars["scaler"])


def restore_rng(tensors: Tensors, scalars: dict[str, Any], device: torch.device) -> None:
    """Put the torch (CPU and CUDA), python and numpy RNGs back where the resume point left them."""
    torch.set_rng_state(tensors["rng.torch"])
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    py = scalars.get("python_random")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    npr = scalars.get("numpy_random")
    if npr:
        np.random.set_state((npr[0], np.asarray(npr[1], dtype=np.uint32), int(npr[2]), int(npr[3]),
                             float(npr[4])))


def save_checkpoint(run: Path, model: GPT, tensors: Tensors, scalars: dict[str, Any], *, best: bool) -> Path:
    """Checkpoint a run: best weights (when improved), then the resume point, then the latest weights.

    Each file is self-contained and replaced atomically, so a crash between two writes leaves at worst
    ``model.safetensors`` one checkpoint behind the resume point.
    """
    d = run
    step = int(scalars["step"])
    if best:
        save_weights(d / runs.BEST, model, step=step, val_loss=scalars.get("best_val_loss"))
    save_state(run, tensors, scalars)
    save_weights(d / runs.WEIGHTS, model, step=step, val_loss=scalars.get("val_loss"))
    return d
