"""The on-disk layout of a run, ``models/<run>/``, and safe reading and writing of its files.

::

    config.json        RunConfig: everything needed to rebuild the model and its training
    tokenizer.json     the run's tokenizer (see tokenizer.py)
    model.safetensors  latest weights, for inference        (metadata: step, val_loss)
    best.safetensors   best-by-validation weights            (metadata: step, val_loss)
    state.safetensors  the resume point: weights, optimizer tensors, torch RNG state, and in its
                       header the JSON scalars (step, elapsed time, best validation, python/numpy RNG)
    state.json         a readable copy of those scalars (never read back for resuming)
    metrics.jsonl      one JSON event per line, appended and flushed as training goes
    train.lock         {"pid", "started"} while a training process owns the run

Why a ``kill -9`` cannot leave a broken resume point: everything a resume needs lives in one file,
``state.safetensors``, and a file is only ever replaced by writing a temporary file beside it,
fsyncing it and renaming it over the old one (atomic on POSIX). At any instant the old or the new
state file is there, complete. The other files are written the same way, each self-contained, so a
crash between two of them leaves at worst ``model.safetensors`` one checkpoint behind the state.

Nothing here unpickles: tensors go through safetensors, everything else through JSON.
torch is imported inside the functions that need it so that listing runs stays fast.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_path, atomic_write_text, pid_alive
from .config import ModelConfig, RunConfig, TinyGPTError, models_dir, valid_run_name

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .model import GPT
    from .tokenizer import Tokenizer

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = "model.safetensors"
BEST = "best.safetensors"
STATE = "state.safetensors"
STATE_JSON = "state.json"
METRICS = "metrics.jsonl"
LOCK = "train.lock"

WEIGHTS_FORMAT = "tinygpt-weights"
STATE_FORMAT = "tinygpt-state"
STATE_VERSION = 1


# --------------------------------------------------------------------------------------------------
# names and configs


def run_dir(name: str) -> Path:
    """The folder of run ``name`` (which need not exist yet)."""
    if not valid_run_name(name):
        raise TinyGPTError(f"'{name}' is not a valid run name.",
                           "use letters, digits, '-', '_' or '.', starting with a letter or digit.")
    return models_dir() / name


def run_exists(name: str) -> bool:
    return (run_dir(name) / CONFIG).is_file()


def create_run(cfg: RunConfig, *, overwrite: bool = False) -> Path:
    """Create ``models/<cfg.name>/`` with its ``config.json``; refuses to replace an existing run's
    configuration unless ``overwrite`` (used when a run's non-shape settings change)."""
    d = run_dir(cfg.name)
    if (d / CONFIG).exists() and not overwrite:
        raise TinyGPTError(f"A run named '{cfg.name}' already exists.",
                           "pick another --run name, or train it again to resume it.")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / CONFIG, cfg.to_json() + "\n")
    return d


def save_run_config(cfg: RunConfig) -> Path:
    """Write (or rewrite) a run's ``config.json``."""
    return create_run(cfg, overwrite=True)


def load_run_config(name: str) -> RunConfig:
    path = run_dir(name) / CONFIG
    if not path.is_file():
        raise TinyGPTError(f"There is no run named '{name}' in {models_dir()}.",
                           f"start it with: tinygpt train --run {name}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TinyGPTError(f"Cannot read {path}: {e}.") from None
    return RunConfig.from_json(text)


def estimate_params(m: ModelConfig) -> int:
    """Parameters of a GPT with this shape, counted like ``GPT.num_params()`` (position embedding
    left out, tied matrices once), without building it."""
    C = m.n_embd
    per_block = 12 * C * C + 2 * C + (11 * C if m.bias else 0)
    head = 0 if m.tie_weights else m.vocab_size * C
    return m.vocab_size * C + m.n_layer * per_block + C + (C if m.bias else 0) + head


# --------------------------------------------------------------------------------------------------
# atomic files


def tensors_crc32(tensors: dict[str, torch.Tensor]) -> str:
    """A CRC-32 over names and bytes of ``tensors``: safetensors checks its header and sizes but
    not the bytes, so a flipped bit in the data would otherwise load silently."""
    import torch

    crc = 0
    for key in sorted(tensors):
        t = tensors[key].detach().to("cpu").contiguous()
        crc = zlib.crc32(key.encode(), crc)
        crc = zlib.crc32(t.reshape(-1).view(torch.uint8).numpy().tobytes(), crc)
    return f"{crc:08x}"


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Save ``tensors`` with ``metadata`` (plus a CRC of the data) atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {**metadata, "crc32": tensors_crc32(tensors)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


# --------------------------------------------------------------------------------------------------
# weights


def weights_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """The model's tensors with the tied head left out (safetensors stores no shared tensors)."""
    sd = dict(model.state_dict())
    if model.config.tie_weights:
        sd.pop("lm_head.weight", None)
    return sd


def load_weights_into(model: GPT, tensors: dict[str, torch.Tensor], path: Path) -> None:
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


def save_weights(path: Path, model: GPT, *, step: int, val_loss: float | None = None) -> None:
    meta = {"format": WEIGHTS_FORMAT, "step": str(step),
            "val_loss": "" if val_loss is None else repr(float(val_loss)),
            "vocab_size": str(model.config.vocab_size)}
    atomic_save_tensors(path, weights_state_dict(model), meta)


def read_safetensors(path: Path, want_format: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
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


def read_safetensors_metadata(path: Path) -> dict[str, str] | None:
    """The header metadata of a safetensors file, or None when it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception:
        return None


def load_model(name: str, which: str = "best", device: str = "cpu") -> tuple[GPT, Tokenizer, RunConfig]:
    """Load a run's model (``best`` falls back to ``latest`` before the first evaluation),
    its tokenizer and configuration. The model is in eval mode on ``device``."""
    from .model import GPT
    from .tokenizer import load_tokenizer

    if which not in ("best", "latest"):
        raise TinyGPTError(f"Unknown checkpoint '{which}'.", "choose best or latest.")
    cfg = load_run_config(name)
    d = run_dir(name)
    path = d / (BEST if which == "best" else WEIGHTS)
    if which == "best" and not path.is_file():
        path = d / WEIGHTS
    if not path.is_file():
        raise TinyGPTError(f"Run '{name}' has no trained weights yet.",
                           f"train it first: tinygpt train --run {name}")
    tok = load_tokenizer(d / TOKENIZER)
    check_vocab(cfg, tok, name)
    tensors, _ = read_safetensors(path, WEIGHTS_FORMAT)
    model = GPT(cfg.model)
    load_weights_into(model, tensors, path)
    from .train import resolve_device  # clear sentences for a device this machine lacks

    return model.to(resolve_device(device)).eval(), tok, cfg


def check_vocab(cfg: RunConfig, tok: Tokenizer, name: str) -> None:
    if cfg.model.vocab_size != tok.vocab_size:
        raise TinyGPTError(
            f"Run '{name}' has a model vocabulary of {cfg.model.vocab_size} but its tokenizer has "
            f"{tok.vocab_size} tokens.",
            "tokenizer.json was replaced or belongs to another run; restore the original one.")


# --------------------------------------------------------------------------------------------------
# the resume point: state.safetensors (+ state.json, a readable copy)


def save_state(name: str, tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> Path:
    """Write the resume point atomically: ``tensors`` and, in the header, the JSON ``scalars``."""
    d = run_dir(name)
    scalars = {"format": STATE_FORMAT, "version": STATE_VERSION, **scalars}
    text = json.dumps(scalars, separators=(",", ":"))
    atomic_save_tensors(d / STATE, tensors, {"format": STATE_FORMAT, "step": str(scalars.get("step", 0)),
                                             "state": text})
    readable = {k: v for k, v in scalars.items() if k not in ("python_random", "numpy_random")}
    atomic_write_text(d / STATE_JSON, json.dumps(readable, indent=2) + "\n")
    return d / STATE


def load_state(name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The resume point of a run, or None when it has none. Corrupt files raise TinyGPTError."""
    path = run_dir(name) / STATE
    if not path.exists():
        return None
    tensors, meta = read_safetensors(path, STATE_FORMAT)
    try:
        scalars = json.loads(meta["state"])
        if not isinstance(scalars, dict) or int(scalars["step"]) != int(meta["step"]):
            raise ValueError("inconsistent step")
    except (KeyError, ValueError, TypeError):
        raise TinyGPTError(f"{path} has an unreadable training state.",
                           "restore the file or start a new run.") from None
    if scalars.get("version") != STATE_VERSION:
        raise TinyGPTError(f"{path} was written by another version of tinygpt (state version "
                           f"{scalars.get('version')}).", "start a new run.")
    return tensors, scalars


def state_summary(name: str) -> dict[str, Any] | None:
    """Step, best validation figures etc. of the resume point, read from its header only."""
    meta = read_safetensors_metadata(run_dir(name) / STATE)
    if not meta or meta.get("format") != STATE_FORMAT:
        return None
    try:
        s = json.loads(meta["state"])
    except (KeyError, ValueError):
        return None
    return {k: v for k, v in s.items() if k not in ("python_random", "numpy_random")}


# --------------------------------------------------------------------------------------------------
# metrics and the training lock


def append_metric(name: str, event: dict[str, Any]) -> None:
    """Append one event as a JSON line and flush it, so a follower sees whole lines."""
    path = run_dir(name) / METRICS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event, allow_nan=True) + "\n")
        f.flush()


def read_metrics(name: str, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended to ``metrics.jsonl`` after byte ``since_offset``, and the offset to ask from
    next time. A line still being written (no newline yet) waits for the next call; a line that is
    not JSON is skipped."""
    path = run_dir(name) / METRICS
    if not path.is_file():
        return [], since_offset
    with open(path, "rb") as f:
        f.seek(since_offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events, since_offset + end


def lock_owner(name: str) -> int | None:
    """The pid training this run, or None (no lock, an unreadable one, or a stale one)."""
    try:
        info = json.loads((run_dir(name) / LOCK).read_text(encoding="utf-8"))
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if pid_alive(pid) else None


def is_training(name: str) -> bool:
    return lock_owner(name) is not None


def acquire_lock(name: str) -> Path:
    """Take ``train.lock`` for this process; a lock whose pid is dead is ignored and replaced."""
    path = run_dir(name) / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"pid": os.getpid(), "started": time.time()}).encode()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = lock_owner(name)
            if owner is not None and owner != os.getpid():
                raise TinyGPTError(f"Run '{name}' is already being trained by process {owner}.",
                                   "wait for it to finish, or stop it (Ctrl-C in its window).") from None
            try:
                path.unlink()  # stale (its process is gone) or our own
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        return path
    raise TinyGPTError(f"Could not take the training lock of run '{name}'.", f"remove {path} if no training runs.")


def release_lock(name: str) -> None:
    path = run_dir(name) / LOCK
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if int(info.get("pid", -1)) == os.getpid():
            path.unlink()
    except (OSError, ValueError, TypeError):
        pass


# --------------------------------------------------------------------------------------------------
# listing


@dataclass
class RunInfo:
    name: str
    tokenizer: str
    vocab_size: int
    params: int
    preset: str
    step: int
    max_steps: int
    max_time: float | None
    best_val_loss: float | None
    best_val_bpb: float | None
    training: bool
    updated: float
    """Unix time of the newest file in the run."""
    has_weights: bool


def run_info(name: str) -> RunInfo:
    cfg = load_run_config(name)
    d = run_dir(name)
    summary = state_summary(name) or {}
    mtimes = []
    for p in d.iterdir():
        if p.name.startswith("."):
            continue  # temporary files of a checkpoint being written
        try:
            mtimes.append(p.stat().st_mtime)
        except FileNotFoundError:  # renamed or removed between listing and stat
            pass
    return RunInfo(
        name=name, tokenizer=cfg.tokenizer.kind, vocab_size=cfg.model.vocab_size,
        params=estimate_params(cfg.model), preset=cfg.preset, step=int(summary.get("step", 0)),
        max_steps=cfg.train.max_steps, max_time=cfg.train.max_time,
        best_val_loss=summary.get("best_val_loss"), best_val_bpb=summary.get("best_val_bpb"),
        training=is_training(name), updated=max(mtimes, default=0.0), has_weights=(d / WEIGHTS).is_file(),
    )


def list_runs() -> list[RunInfo]:
    """Every run under ``models/`` with a readable config, newest first."""
    root = models_dir()
    if not root.is_dir():
        return []
    infos = []
    for d in root.iterdir():
        if d.is_dir() and (d / CONFIG).is_file() and valid_run_name(d.name):
            try:
                infos.append(run_info(d.name))
            except (TinyGPTError, OSError):
                continue  # a broken (or vanishing) run shows up when it is opened, not here
    return sorted(infos, key=lambda r: r.updated, reverse=True)
