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
    history/           step-000000123.safetensors: weights of past evaluations (weights-only format),
                       thinned to at most ``train.history`` of them, for the time-lapse
    train.lock         {"pid", "proc_start", "started"} while a training process owns the run

Why a ``kill -9`` cannot leave a broken resume point: everything a resume needs lives in one file,
``state.safetensors``, and a file is only ever replaced by writing a temporary file beside it,
fsyncing it and renaming it over the old one (atomic on POSIX). At any instant the old or the new
state file is there, complete. The other files are written the same way, each self-contained, so a
crash between two of them leaves at worst ``model.safetensors`` one checkpoint behind the state.

Reading and writing the tensors (weights, optimizer, RNG) is :mod:`checkpoint`'s job; this module
knows which runs exist, their folders, configs, metrics, lock and listing, and reads the resume
point's header (no torch) to list a run's step and best validation figures.

Every function is given where to look: the models folder (``models``, a :class:`Workspace`'s
``models``) to name or list runs, or one run's folder (``run``, from :func:`run_dir`) for the rest.
Nothing here unpickles: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text, fsync_dir, pid_temp_file, process_alive, process_start
from .config import ModelConfig, RunConfig, TinyGPTError, valid_run_name

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
WEIGHTS = "model.safetensors"
BEST = "best.safetensors"
STATE = "state.safetensors"
STATE_JSON = "state.json"
METRICS = "metrics.jsonl"
LOCK = "train.lock"
HISTORY = "history"
"""The folder of a run's past checkpoints (history.py keeps it)."""
SAMPLING = "sampling.json"
"""The sampling settings last used with the run in the app (kept across launches)."""

WEIGHTS_FORMAT = "tinygpt-weights"
STATE_FORMAT = "tinygpt-state"
STATE_VERSION = 1


# --------------------------------------------------------------------------------------------------
# names and configs


def run_dir(models: Path, name: str) -> Path:
    """The folder of run ``name`` under ``models`` (which need not exist yet); checks the name."""
    if not valid_run_name(name):
        raise TinyGPTError(f"'{name}' is not a valid run name.",
                           "use letters, digits, '-', '_' or '.', starting with a letter or digit.")
    return Path(models) / name


def run_exists(run: Path) -> bool:
    """True when the folder ``run`` holds a run (its ``config.json``)."""
    return (run / CONFIG).is_file()


def create_run(models: Path, cfg: RunConfig, *, overwrite: bool = False) -> Path:
    """Create ``<models>/<cfg.name>/`` with its ``config.json``; refuses to replace an existing run's
    configuration unless ``overwrite`` (used when a run's non-shape settings change)."""
    d = run_dir(models, cfg.name)
    if (d / CONFIG).exists() and not overwrite:
        raise TinyGPTError(f"A run named '{cfg.name}' already exists.",
                           "pick another --run name, or train it again to resume it.")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_text(d / CONFIG, cfg.to_json() + "\n")
    return d


def save_run_config(run: Path, cfg: RunConfig) -> Path:
    """Write (or rewrite) the ``config.json`` of the run in folder ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run / CONFIG, cfg.to_json() + "\n")
    return run


def load_run_config(run: Path) -> RunConfig:
    """The configuration of the run in folder ``run`` (TinyGPTError when there is none). The folder
    names the run: a ``name`` inside config.json that differs (the folder was renamed or copied) is
    replaced by the folder's, so nothing is ever written under the old name."""
    name = run.name
    path = run / CONFIG
    if not path.is_file():
        raise TinyGPTError(f"There is no run named '{name}' in {run.parent}.",
                           f"start it with: tinygpt train --run {name}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TinyGPTError(f"Cannot read {path}: {e}.") from None
    cfg = RunConfig.from_json(text)
    if cfg.name != name and valid_run_name(name):
        cfg.name = name
    return cfg


def estimate_params(m: ModelConfig) -> int:
    """Parameters of a GPT with this shape, counted like ``GPT.num_params()`` (position embedding
    left out, tied matrices once), without building it."""
    C = m.n_embd
    # a LayerNorm has a weight (and a bias); an RMSNorm here has no parameters
    norm = (C + (C if m.bias else 0)) if m.norm == "layernorm" else 0
    per_block = 12 * C * C + 2 * norm + (9 * C if m.bias else 0)
    head = 0 if m.tie_weights else m.vocab_size * C
    return m.vocab_size * C + m.n_layer * per_block + norm + head


def training_memory(cfg: RunConfig) -> int:
    """A rough upper estimate, in bytes, of the memory training ``cfg`` takes in float32: weights,
    gradients and two optimizer moments (16 bytes a parameter), plus the activations kept for the
    backward pass (per layer and token about 16 widths and, for attention, two T-long rows per head)
    and the logits. It is not exact; it tells a shape that fits from one that can never fit."""
    m, t = cfg.model, cfg.train
    params = estimate_params(m) + (m.block_size * m.n_embd if m.position == "learned" else 0)
    tokens = t.batch_size * m.block_size
    activations = 4 * tokens * m.n_layer * (16 * m.n_embd + 2 * m.n_head * m.block_size)
    logits = 4 * tokens * m.vocab_size * 3
    return 16 * params + activations + logits


def history_step(path: Path) -> int | None:
    """The step of a history file's name (``step-000000123.safetensors``), or None for any other name
    (a temporary file of a write in progress, something the user put there)."""
    name = path.name
    if not (name.startswith("step-") and name.endswith(".safetensors")):
        return None
    digits = name[len("step-"):-len(".safetensors")]
    return int(digits) if digits.isdigit() and digits.isascii() else None


def history_files(run: Path) -> list[tuple[int, Path]]:
    """The (step, path) of each checkpoint in the run's history, oldest first."""
    folder = run / HISTORY
    try:
        found = [(history_step(p), p) for p in folder.iterdir()]
    except OSError:  # no history (yet), or not a folder
        return []
    return sorted((step, p) for step, p in found if step is not None)


def history_size(run: Path) -> tuple[int, int]:
    """How many checkpoints the run's history keeps, and their bytes on disk."""
    count = size = 0
    for _step, p in history_files(run):
        try:
            size += p.stat().st_size
            count += 1
        except OSError:  # thinned away while counted
            pass
    return count, size


# --------------------------------------------------------------------------------------------------
# the resume point's header (read without torch, for listing)


def read_safetensors_metadata(path: Path) -> dict[str, str] | None:
    """The header metadata of a safetensors file, or None when it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy", device="cpu") as f:
            return dict(f.metadata() or {})
    except Exception:
        return None


def state_summary(run: Path) -> dict[str, Any] | None:
    """Step, best validation figures etc. of the resume point, read from its header only."""
    meta = read_safetensors_metadata(run / STATE)
    if not meta or meta.get("format") != STATE_FORMAT:
        return None
    try:
        s = json.loads(meta["state"])
    except (KeyError, ValueError, RecursionError):
        return None
    return {k: v for k, v in s.items() if k not in ("python_random", "numpy_random")}


# --------------------------------------------------------------------------------------------------
# metrics and the training lock


def append_metric(run: Path, event: dict[str, Any]) -> None:
    """Append one event as a JSON line and flush it, so a follower sees whole lines."""
    path = run / METRICS
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event, allow_nan=True) + "\n")
        f.flush()


def read_metrics(run: Path, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended to ``metrics.jsonl`` after byte ``since_offset``, and the offset to ask from
    next time. A line still being written (no newline yet) waits for the next call; a line that is
    not JSON is skipped."""
    path = run / METRICS
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
        except (ValueError, RecursionError):  # a damaged line, or one nested past the parser's stack
            continue
        if isinstance(event, dict):
            events.append(event)
    return events, since_offset + end


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def _lock_alive(info: dict[str, Any] | None) -> bool:
    """Whether the process a lock names still runs: its pid, and its start time where the lock has
    one (so a pid reused by another process does not keep a dead trainer's lock forever)."""
    if info is None:
        return False
    start = info.get("proc_start")
    return process_alive(int(info["pid"]), start if isinstance(start, int) else None)


def lock_owner(run: Path) -> int | None:
    """The pid training this run, or None (no lock, an unreadable one, or a stale one)."""
    info = _read_lock(run / LOCK)
    return int(info["pid"]) if info is not None and _lock_alive(info) else None


def interrupt_trainer(run: Path) -> int | None:
    """Ask the process training ``run`` (any process, not only a child of this one: a run left training
    by a closed app or REPL) to stop, with SIGINT: it finishes its step, saves a checkpoint and exits.
    Returns the pid signalled, or None: no live lock, or its process cannot be told from a later one
    that reused the pid (the start time in the lock must match the process's), or may not be signalled."""
    import signal

    info = _read_lock(run / LOCK)
    if info is None or not _lock_alive(info):
        return None
    pid, start = int(info["pid"]), info.get("proc_start")
    if pid == os.getpid() or not isinstance(start, int) or process_start(pid) != start:
        return None
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:  # gone meanwhile, or another user's
        return None
    return pid


def is_training(run: Path) -> bool:
    return lock_owner(run) is not None


def _own_lock_body() -> dict[str, Any]:
    return {"pid": os.getpid(), "proc_start": process_start(os.getpid()), "started": time.time()}


def _is_ours(info: dict[str, Any] | None) -> bool:
    return info is not None and int(info["pid"]) == os.getpid() and \
        info.get("proc_start") == process_start(os.getpid())


@contextmanager
def _takers_in_turn(run: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on the run's folder (``flock``, released by the kernel when the
    process dies): the processes taking one run's training lock do it one after another. Where the
    system or the file system has no flock, the link-based lock alone decides."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    try:
        fd = os.open(run, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock
            pass
        yield
    finally:
        os.close(fd)  # releases the flock


def acquire_lock(run: Path) -> Path:
    """Take ``train.lock`` for this process.

    The lock appears whole or not at all: its owner (pid and process start time) is written to a
    temporary file first, which is then hard-linked to ``train.lock`` (the link fails when the lock
    exists). A stale lock (its process gone, or its pid now another process's) is moved aside under
    a name of our own and, should what was moved turn out to be a live lock that arrived meanwhile,
    put back. Processes taking the lock of one run also take turns (an advisory ``flock`` on the run's
    folder, where the system has one), so the check of a stale lock and its removal cannot interleave
    with another taker's: two trainers can never both hold one run.
    """
    name = run.name
    path = run / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    busy = TinyGPTError(f"Run '{name}' is already being trained by another process.",
                        "wait for it to finish, or stop it (Ctrl-C in its window, or s in the app).")
    tmp = pid_temp_file(path.parent, LOCK)
    try:
        with _takers_in_turn(run):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(json.dumps(_own_lock_body()))
                f.flush()
                os.fsync(f.fileno())
            for _ in range(5):
                try:
                    os.link(tmp, path)
                    fsync_dir(path.parent)
                    return path
                except FileExistsError:
                    pass
                info = _read_lock(path)
                if _is_ours(info):
                    return path
                if _lock_alive(info):
                    raise TinyGPTError(f"Run '{name}' is already being trained by process {info['pid']}.",
                                       busy.hint) from None
                aside = pid_temp_file(path.parent, LOCK + ".stale")
                try:
                    os.replace(path, aside)
                except FileNotFoundError:
                    os.unlink(aside)
                    continue
                moved = _read_lock(aside)
                if _lock_alive(moved):  # a live lock taken between our read and the move: give it back
                    try:
                        os.link(aside, path)
                    except FileExistsError:
                        pass
                    os.unlink(aside)
                    raise busy
                os.unlink(aside)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    raise TinyGPTError(f"Could not take the training lock of run '{name}'.", f"remove {path} if no training runs.")


def release_lock(run: Path) -> None:
    path = run / LOCK
    if _is_ours(_read_lock(path)):
        try:
            path.unlink()
        except OSError:
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
    history: int = 0
    """Checkpoints kept in its history (for the time-lapse)."""
    history_bytes: int = 0
    """Their size on disk."""
    problem: str | None = None
    """Why the run cannot be read (a malformed config.json), as one sentence with its hint; the other
    fields are then placeholders."""


def bad_run_info(run: Path, err: BaseException) -> RunInfo:
    """A run whose configuration cannot be read, listed with why instead of hidden or crashing the list."""
    from .present import error_line

    try:
        updated = (run / CONFIG).stat().st_mtime
    except OSError:
        updated = 0.0
    return RunInfo(name=run.name, tokenizer="?", vocab_size=0, params=0, preset="?", step=0, max_steps=0,
                   max_time=None, best_val_loss=None, best_val_bpb=None, training=is_training(run),
                   updated=updated, has_weights=False, problem=error_line(err))


def run_info(run: Path) -> RunInfo:
    cfg = load_run_config(run)
    d = run
    name = run.name
    summary = state_summary(run) or {}
    mtimes = []
    for p in d.iterdir():
        if p.name.startswith("."):
            continue  # temporary files of a checkpoint being written
        try:
            mtimes.append(p.stat().st_mtime)
        except FileNotFoundError:  # renamed or removed between listing and stat
            pass
    history, history_bytes = history_size(run)
    return RunInfo(
        name=name, tokenizer=cfg.tokenizer.kind, vocab_size=cfg.model.vocab_size,
        params=estimate_params(cfg.model), preset=cfg.preset, step=int(summary.get("step", 0)),
        max_steps=cfg.train.max_steps, max_time=cfg.train.max_time,
        best_val_loss=summary.get("best_val_loss"), best_val_bpb=summary.get("best_val_bpb"),
        training=is_training(run), updated=max(mtimes, default=0.0),
        has_weights=(d / WEIGHTS).is_file() or (d / STATE).is_file(),
        history=history, history_bytes=history_bytes,
    )


def list_runs(models: Path) -> list[RunInfo]:
    """Every run under ``models``, newest first; one whose config cannot be read is listed with its
    ``problem`` (and no weights), so one bad folder neither hides itself nor breaks the listing."""
    root = Path(models)
    if not root.is_dir():
        return []
    infos = []
    for d in root.iterdir():
        if d.is_dir() and (d / CONFIG).is_file() and valid_run_name(d.name):
            try:
                infos.append(run_info(d))
            except TinyGPTError as err:
                infos.append(bad_run_info(d, err))
            except OSError as err:  # unreadable, or vanishing while listed
                if d.is_dir():
                    infos.append(bad_run_info(d, TinyGPTError(f"Cannot read run folder {d}: {err.strerror}.")))
    return sorted(infos, key=lambda r: r.updated, reverse=True)
