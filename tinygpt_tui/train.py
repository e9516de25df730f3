"""The training loop: prepare what is missing, train or resume, report every step as an event.

``train_run(name)`` takes a run created by :func:`tinygpt_tui.runs.create_run` and

1. builds what is missing: the corpus (sources.py), the run's tokenizer (tokenizer.py, saved as
   ``models/<run>/tokenizer.json``) and the token shards (shards.py);
2. builds the GPT, AdamW (no decay on norms, biases and embeddings) and, when a resume point exists,
   restores weights, optimizer moments, step, elapsed time and RNG states from it;
3. trains: warmup then cosine decay to ``min_lr`` (over steps, or over a wall-clock budget with
   ``max_time``), gradient accumulation, clipping, bf16/fp16 autocast, optional ``torch.compile``;
4. every ``eval_interval`` steps measures validation loss and bits per byte, writes a sample and a
   checkpoint, keeping the best-by-validation weights beside the latest.

Every event (``stage``, ``progress``, ``start``, ``step``, ``eval``, ``sample``, ``checkpoint``,
``done``, ``error``) goes to ``metrics.jsonl`` and to the ``on_event`` callback; run as a process
(``python -m tinygpt_tui.train --run NAME``) each event is also printed as one JSON line.

Exact resume: batch ``i`` of the training stream is a pure function of (seed, i) (shards.BatchSampler),
the global torch RNG is consumed only by dropout inside training steps (evaluation and samples use
their own generators), and the resume point holds that RNG state. So on CPU in fp32 a resumed
step-based run repeats the uninterrupted run's losses exactly. A time-based run (``max_time``) resumes
with its elapsed time, so the schedule continues where it was; its learning rate depends on measured
time, so its losses are not bit-for-bit those of an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from . import runs
from .atomic import atomic_write_text, remove_orphaned_temp_files
from .config import RunConfig, TinyGPTError, TrainConfig, models_dir, valid_run_name
from .model import GPT

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

Event = dict[str, Any]
LN2 = math.log(2.0)


class _Interrupted(Exception):
    """Raised from a progress callback to leave a preparation stage when a stop was asked for."""


# --------------------------------------------------------------------------------------------------
# learning-rate schedule


def learning_rate(tc: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """Learning rate for optimizer step ``step`` (0-based) after ``elapsed`` seconds of training.

    Step-based runs warm up linearly over ``warmup_steps``, then follow a cosine from ``lr`` down to
    ``min_lr`` at ``max_steps``. With ``max_time`` the same curve is laid over the wall-clock budget:
    progress is ``elapsed / max_time`` and warmup takes the share ``warmup_steps / max_steps`` of it.
    """
    if tc.max_time:
        progress = elapsed / tc.max_time
        warm = min(tc.warmup_steps / tc.max_steps, 0.5)
        if progress < warm:
            return tc.lr * max(progress / warm, 0.01)  # a floor so the very first step still learns
    else:
        if step < tc.warmup_steps:
            return tc.lr * (step + 1) / tc.warmup_steps
        warm = tc.warmup_steps / tc.max_steps
        progress = step / tc.max_steps
    if progress >= 1.0:
        return tc.min_lr
    ratio = (progress - warm) / max(1.0 - warm, 1e-9)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(max(ratio, 0.0), 1.0)))  # 1 -> 0
    return tc.min_lr + coeff * (tc.lr - tc.min_lr)


# --------------------------------------------------------------------------------------------------
# device, precision, measured peak


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TinyGPTError("--device cuda was asked for but no CUDA GPU is available.", "use --device cpu or auto.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TinyGPTError("--device mps was asked for but Metal is not available.", "use --device cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TinyGPTError(f"'{name}' is not a device.", "use auto, cpu, cuda, cuda:N or mps.") from None


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype (float32 means no autocast). ``auto``: bf16 where the GPU has it, else fp16
    with a GradScaler; on CPU bf16 only when this machine's measured bf16 matmul is clearly faster."""
    if name != "auto":
        dtype = _DTYPES[name]
        if dtype == torch.float16 and device.type == "cpu":
            raise TinyGPTError("float16 training is not supported on the CPU.", "use --dtype bfloat16 or float32.")
        return dtype
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        try:
            fast = measure_peak_flops(device, torch.bfloat16) > 1.2 * measure_peak_flops(device, torch.float32)
        except RuntimeError:  # no bf16 kernels at all
            fast = False
        return torch.bfloat16 if fast else torch.float32
    return torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def device_label(device: torch.device) -> str:
    """A name for the hardware, used to key the measured peaks."""
    if device.type == "cuda":
        return "cuda:" + torch.cuda.get_device_name(device)
    if device.type == "cpu":
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return f"cpu:{name}:threads={available_cores()}"
    return device.type


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _peak_table() -> tuple[Path, dict[str, float]]:
    path = models_dir() / ".peak_flops.json"
    try:
        table = json.loads(path.read_text())
        if not isinstance(table, dict):
            table = {}
    except (OSError, ValueError):
        table = {}
    return path, table


def measure_peak_flops(device: torch.device, dtype: torch.dtype, *, cache: bool = True) -> float:
    """Matmul FLOP/s this machine reaches in ``dtype``; MFU is measured against this figure.

    With ``cache`` a figure already in ``models/.peak_flops.json`` (keyed by hardware, threads and
    dtype) is returned without timing anything; otherwise products are timed and the file keeps the
    best figure ever measured (a busy machine measures low; the hardware's peak is the best seen).
    """
    key = f"{device_label(device)}|{dtype_name(dtype)}"
    path, table = _peak_table()
    known = table.get(key)
    if cache and isinstance(known, (int, float)) and known > 0:
        return float(known)
    n = 4096 if device.type == "cuda" else 1024
    gen = torch.Generator().manual_seed(0)  # private: the global RNG belongs to training
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)

    def fastest_product(threads: int) -> float:
        """Seconds of the fastest of many single products: on a shared machine some of them run
        undisturbed, and a peak is what the hardware can do, not what it did on average."""
        torch.set_num_threads(threads)
        for _ in range(2):  # warm up kernels and caches
            a @ b
        _sync(device)
        best, spent = float("inf"), 0.0
        for i in range(200):
            t0 = time.perf_counter()
            a @ b
            _sync(device)
            dt = time.perf_counter() - t0
            best, spent = min(best, dt), spent + dt
            if spent > 0.6 and i >= 10:
                break
        return best

    before = torch.get_num_threads()
    cores = available_cores() if device.type == "cpu" else 1
    peak = 2 * n**3 / fastest_product(cores)
    if cores > 1:
        # when other processes keep the cores busy, every all-core product is slowed down; one core's
        # rate times the number of cores (matmuls scale almost linearly) is then the better estimate
        peak = max(peak, cores * 2 * n**3 / fastest_product(1))
    torch.set_num_threads(before)
    best_known = max(peak, float(known) if isinstance(known, (int, float)) else 0.0)
    if best_known != known:
        table[key] = best_known
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(table, indent=2) + "\n")
        except OSError:
            pass
    return best_known if cache else peak


def available_cores() -> int:
    """CPU cores this process may run on (``$TINYGPT_THREADS`` overrides)."""
    if os.environ.get("TINYGPT_THREADS"):
        return max(1, int(os.environ["TINYGPT_THREADS"]))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_threads(n: int | None = None) -> int:
    """Use ``n`` (default: every available core) threads inside each op and one between ops: the
    model is a chain of big ops, so parallelism inside each op is what pays."""
    torch.set_num_threads(max(1, n or available_cores()))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can only be set before the first parallel op
        pass
    return torch.get_num_threads()


def probe_threads(dtype: torch.dtype, cores: int | None = None) -> int:
    """How many threads run this machine's matmuls fastest right now: all cores, or one.

    On a machine shared with other busy processes, every parallel op waits for its slowest thread,
    and a thread that shares a core with someone else is slow: one thread is then often faster than
    two (measured 2-3x on a loaded two-core machine). A short interleaved timing decides.
    """
    cores = cores or available_cores()
    if cores <= 1:
        return 1
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 256, generator=gen).to(dtype)
    b = torch.randn(256, 768, generator=gen).to(dtype)
    before = torch.get_num_threads()
    times: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(5):
        for n in times:
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            a @ b
            a @ b
            times[n].append(time.perf_counter() - t0)
    torch.set_num_threads(before)
    median = {n: sorted(v)[len(v) // 2] for n, v in times.items()}
    return 1 if median[1] < 0.9 * median[cores] else cores


def make_optimizer(model: GPT, tc: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the model's two groups; the fused kernel where this build has it for the device."""
    groups = model.optimizer_groups(tc.weight_decay)
    kwargs: dict[str, Any] = dict(lr=tc.lr, betas=(tc.beta1, tc.beta2), eps=1e-8)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, foreach=True, **kwargs)


# --------------------------------------------------------------------------------------------------
# measuring: loss, bits per byte, samples


def nll_and_bytes(model: GPT, x: torch.Tensor, y: torch.Tensor, byte_lengths: torch.Tensor,
                  autocast) -> tuple[float, int, int]:
    """Summed negative log-likelihood in nats of targets ``y`` (ids < 0 ignored), the number of
    target tokens and the number of bytes they stand for."""
    with autocast:
        logits = model(x).logits  # (B, T, vocab)
    nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-1,
                          reduction="sum")
    keep = y >= 0
    return float(nll), int(keep.sum()), int(byte_lengths[y[keep]].sum())


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    """Cross-entropy in bits per byte of text: comparable across tokenizers, because it charges the
    model for the text, however many tokens a tokenizer cuts it into."""
    return nll_nats / LN2 / max(n_bytes, 1)


@torch.no_grad()
def sample_text(model: GPT, tok: Tokenizer, n_tokens: int, *, seed: int, temperature: float = 0.8,
                top_k: int = 40, device: torch.device | str = "cpu") -> str:
    """A short sample from ``<|endoftext|>`` using a private generator (the global RNG is left alone
    so that a resumed run repeats the uninterrupted one exactly)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n_tokens = max(1, min(n_tokens, model.config.block_size - 1))
    cache = model.new_kv_cache(1, n_tokens + 1)
    ids: list[int] = []
    nxt = torch.tensor([[tok.eot_id]], device=device)
    for _ in range(n_tokens):
        logits = model(nxt, kv_cache=cache, last_only=True).logits[0, -1].float().cpu()
        if temperature <= 0:
            i = int(logits.argmax())
        else:
            logits = logits / temperature
            if 0 < top_k < logits.numel():
                kth = torch.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            i = int(torch.multinomial(F.softmax(logits, dim=-1), 1, generator=gen))
        if i == tok.eot_id:
            break
        ids.append(i)
        nxt = torch.tensor([[i]], device=device)
    model.train(was_training)
    return tok.decode(ids)


def score_windows(n: int, block_size: int) -> list[tuple[int, int, int]]:
    """Windows over a sequence of ``n`` token ids so that every target (positions 1..n-1) is scored
    exactly once, with at least half a context before it once the sequence outgrows the context.

    Returns ``(start, end, first)``: input ids ``[start, end)``, targets ``[start+1, end+1)`` of which
    those from local index ``first`` on are scored.
    """
    if n < 2:
        return []
    T = block_size
    stride = max(1, T // 2)
    out = []
    end = min(T, n - 1)
    out.append((0, end, 0))
    while end < n - 1:
        new_end = min(end + stride, n - 1)
        start = new_end - T
        out.append((start, new_end, end - start))
        end = new_end
    return out


@torch.no_grad()
def evaluate_documents(model: GPT, tok: Tokenizer, documents: Iterable[str], *, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32, batch_size: int = 16,
                       on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Loss per token and bits per byte of ``model`` on ``documents``.

    Each document is scored as training sees it: after an ``<|endoftext|>`` and followed by one
    (which counts as one byte), sliding over long documents in context-sized windows.
    """
    device = torch.device(device)
    model.eval()
    T = model.config.block_size
    byte_lengths = torch.as_tensor(np.asarray(tok.byte_lengths()), dtype=torch.long, device=device)
    autocast = _autocast(device, dtype)
    total_nll, total_tokens, total_bytes, docs = 0.0, 0, 0, 0
    pending: list[tuple[list[int], list[int]]] = []

    def flush() -> None:
        nonlocal total_nll, total_tokens, total_bytes
        if not pending:
            return
        width = max(len(x) for x, _ in pending)
        x = torch.zeros(len(pending), width, dtype=torch.long)
        y = torch.full((len(pending), width), -1, dtype=torch.long)
        for i, (xi, yi) in enumerate(pending):
            x[i, : len(xi)] = torch.tensor(xi)
            y[i, : len(yi)] = torch.tensor(yi)
        nll, n_tok, n_bytes = nll_and_bytes(model, x.to(device), y.to(device), byte_lengths, autocast)
        total_nll += nll
        total_tokens += n_tok
        total_bytes += n_bytes
        pending.clear()

    for doc in documents:
        if tok.kind == "char" and (bad := tok.can_encode(doc)) is not None:
            raise TinyGPTError(f"The text contains {bad!r}, which this character-level tokenizer has never seen.",
                               "evaluate a run with a BPE or GPT-2 tokenizer, or remove that character.")
        ids = [tok.eot_id] + tok.encode(doc) + [tok.eot_id]
        for start, end, first in score_windows(len(ids), T):
            xs = ids[start:end]
            ys = ids[start + 1 : end + 1]
            ys = [-1] * first + ys[first:]
            pending.append((xs, ys))
            if len(pending) >= batch_size:
                flush()
        docs += 1
        if on_progress:
            on_progress(docs)
    flush()
    if total_tokens == 0:
        raise TinyGPTError("There is no text to evaluate.", "give a file with at least one non-empty document.")
    return {"loss": total_nll / total_tokens, "bpb": bits_per_byte(total_nll, total_bytes),
            "tokens": total_tokens, "bytes": total_bytes, "documents": docs}


def _autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """One run's training: model, optimizer, data and the loop. Built by :func:`train_run`."""

    def __init__(self, name: str, cfg: RunConfig, tok: Tokenizer, shard_set, emit: Callable[[Event], None],
                 stop: threading.Event, resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None):
        from .shards import BatchSampler

        self.name, self.cfg, self.tok, self.emit, self.stop = name, cfg, tok, emit, stop
        tc = cfg.train
        self.tc = tc
        set_threads()
        self.device = resolve_device(tc.device)
        self.dtype = resolve_dtype(tc.dtype, self.device)
        # threads: all cores, or one when the machine is busy enough that one is faster (probed).
        # A resumed step-based run keeps the count it started with: a different count sums in a
        # different order, and the resume would no longer repeat the uninterrupted run exactly.
        # Time-based runs promise no such thing and re-probe as they go.
        self.cores = available_cores()
        self.probing = self.device.type == "cpu" and self.cores > 1 and not os.environ.get("TINYGPT_THREADS")
        saved_threads = resume[1].get("threads") if resume is not None else None
        if self.probing and saved_threads and not tc.max_time:
            set_threads(min(int(saved_threads), self.cores))
        elif self.probing:
            set_threads(probe_threads(self.dtype, self.cores))
        self.autocast = _autocast(self.device, self.dtype)
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None

        torch.manual_seed(tc.seed)
        self.model = GPT(cfg.model).to(self.device)
        self.optimizer = make_optimizer(self.model, tc, self.device)
        self.sampler = BatchSampler(shard_set, cfg.model.block_size, tc.batch_size, tc.seed)
        self.byte_lengths = torch.as_tensor(np.asarray(tok.byte_lengths()), dtype=torch.long, device=self.device)

        self.step = 0  # optimizer steps done
        self.elapsed = 0.0  # seconds of training so far, across resumes
        self.tokens_seen = 0
        self.best_val_loss: float | None = None
        self.best_val_bpb: float | None = None
        self.best_step: int | None = None
        self.last_val_loss: float | None = None
        self.eval_seconds = 0.0  # how long the last evaluation + sample + checkpoint took
        self.resumed = resume is not None
        if resume is not None:
            self._restore(*resume)

        self.train_model = self.model
        self.compiled_ok = False  # set once a compiled step has run
        if tc.compile:
            # only the training forward is compiled; evaluation and sampling use the plain module
            self.train_model = torch.compile(self.model)
        self.tokens_per_step = tc.batch_size * tc.grad_accum * cfg.model.block_size
        self.flops_per_token = self.model.flops_per_token(cfg.model.block_size)
        self.peak_flops = measure_peak_flops(self.device, self.dtype)
        # the RNG that dropout draws from starts from a known state, whatever setup consumed
        if resume is not None:
            self._restore_rng(resume[0], resume[1])
        else:
            torch.manual_seed(tc.seed + 1)

    # ---------------------------------------------------------------------------------------------
    # resume point

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in runs.weights_state_dict(self.model).items()}
        opt = self.optimizer.state_dict()
        nontensor: dict[str, dict[str, Any]] = {}
        for idx, st in opt["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"optim.{idx}.{k}"] = v
                else:
                    nontensor.setdefault(str(idx), {})[k] = v
        tensors["rng.torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        np_state = np.random.get_state()
        py_state = random.getstate()
        scalars = {
            "step": self.step, "elapsed": self.elapsed, "tokens_seen": self.tokens_seen,
            "best_val_loss": self.best_val_loss, "best_val_bpb": self.best_val_bpb, "best_step": self.best_step,
            "val_loss": self.last_val_loss,
            "data_position": self.step * self.tc.grad_accum,  # next training batch index
            "vocab_size": self.cfg.model.vocab_size, "tokenizer_fingerprint": self.tok.fingerprint(),
            "model": dict(vars(self.cfg.model)), "dtype": dtype_name(self.dtype), "device": self.device.type,
            "threads": torch.get_num_threads(),
            "lr": learning_rate(self.tc, self.step, self.elapsed), "optimizer_state": nontensor,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "python_random": [py_state[0], list(py_state[1]), py_state[2]],
            "numpy_random": [np_state[0], np_state[1].tolist(), *[float(v) for v in np_state[2:]]],
            "saved": time.time(),
        }
        return tensors, scalars

    def _restore(self, tensors: dict[str, torch.Tensor], s: dict[str, Any]) -> None:
        path = runs.run_dir(self.name) / runs.STATE
        weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        runs.load_weights_into(self.model, weights, path)
        fresh = self.optimizer.state_dict()
        state: dict[int, dict[str, Any]] = {}
        for key, v in tensors.items():
            if key.startswith("optim."):
                _, idx, k = key.split(".", 2)
                state.setdefault(int(idx), {})[k] = v
        for idx, extra in (s.get("optimizer_state") or {}).items():
            state.setdefault(int(idx), {}).update(extra)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for i, st in state.items():
            moments = [v for k, v in st.items() if k.startswith("exp_avg") and torch.is_tensor(v)]
            if i >= len(params) or any(m.shape != params[i].shape for m in moments):
                raise TinyGPTError(f"{path} holds optimizer state for another model.", "start a new run.")
        try:
            # hyper-parameters come from the configuration; only the moments are restored
            self.optimizer.load_state_dict({"state": state, "param_groups": fresh["param_groups"]})
        except (ValueError, RuntimeError, KeyError) as e:
            raise TinyGPTError(f"{path} has optimizer state that does not fit this model ({e}).",
                               "start a new run.") from None
        if self.scaler and s.get("scaler"):
            self.scaler.load_state_dict(s["scaler"])
        self.step = int(s["step"])
        self.elapsed = float(s.get("elapsed", 0.0))
        self.tokens_seen = int(s.get("tokens_seen", 0))
        self.best_val_loss = s.get("best_val_loss")
        self.best_val_bpb = s.get("best_val_bpb")
        self.best_step = s.get("best_step")
        self.last_val_loss = s.get("val_loss")

    def _restore_rng(self, tensors: dict[str, torch.Tensor], s: dict[str, Any]) -> None:
        torch.set_rng_state(tensors["rng.torch"])
        if self.device.type == "cuda" and "rng.cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        py = s.get("python_random")
        if py:
            random.setstate((py[0], tuple(py[1]), py[2]))
        npr = s.get("numpy_random")
        if npr:
            np.random.set_state((npr[0], np.asarray(npr[1], dtype=np.uint32), int(npr[2]), int(npr[3]),
                                 float(npr[4])))

    def save(self, best: bool = False) -> Path:
        """Checkpoint: best weights (when improved), then the resume point, then the latest weights."""
        d = runs.run_dir(self.name)
        if best:
            runs.save_weights(d / runs.BEST, self.model, step=self.step, val_loss=self.best_val_loss)
        tensors, scalars = self._state()
        runs.save_state(self.name, tensors, scalars)
        runs.save_weights(d / runs.WEIGHTS, self.model, step=self.step, val_loss=self.last_val_loss)
        self.emit({"event": "checkpoint", "step": self.step, "path": str(d), "best": best})
        return d

    # ---------------------------------------------------------------------------------------------
    # one step, evaluation

    def finished(self) -> str | None:
        """Why training is over, or None."""
        if self.tc.max_time:
            # stop early enough that the final evaluation still fits in the budget
            return "time" if self.elapsed + self.eval_seconds >= self.tc.max_time else None
        return "finished" if self.step >= self.tc.max_steps else None

    def train_step(self) -> tuple[float, float, float]:
        """One optimizer step over ``grad_accum`` micro-batches; returns (loss, lr, grad norm)."""
        tc = self.tc
        lr = learning_rate(tc, self.step, self.elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.train_model.train()
        total = 0.0
        for micro in range(tc.grad_accum):
            x, y = self.sampler.get("train", self.step * tc.grad_accum + micro)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            try:
                loss = self._forward_backward(x, y)
            except Exception as err:
                if self.train_model is self.model or self.compiled_ok:
                    raise
                # torch.compile needs a working C++ compiler (Triton on CUDA); where the first
                # compiled step fails, train eagerly instead of failing the run
                self.train_model = self.model
                self.optimizer.zero_grad(set_to_none=True)
                self.emit({"event": "stage", "stage": "training",
                           "message": f"torch.compile failed here ({type(err).__name__}); training without it"})
                return self.train_step()
            total += loss.item()
        self.compiled_ok = True
        if not math.isfinite(total):
            self.optimizer.zero_grad(set_to_none=True)
            return total, lr, float("nan")
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        clip = tc.grad_clip if tc.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, lr, grad_norm

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss of one micro-batch (scaled for accumulation), with its gradients accumulated."""
        with self.autocast:
            loss = self.train_model(x, y).loss / self.tc.grad_accum
        if self.scaler:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        return loss

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss on fixed train and validation batches, and validation bits per byte."""
        self.model.eval()
        out: dict[str, float] = {}
        for split in ("train", "val"):
            nll = tokens = n_bytes = 0
            for i in range(self.tc.eval_iters):
                # fixed batch indices (far past the training stream for "train") so that successive
                # evaluations measure the same text
                index = i if split == "val" else 10**9 + i
                x, y = self.sampler.get(split, index)
                a, b, c = nll_and_bytes(self.model, x.to(self.device), y.to(self.device), self.byte_lengths,
                                        self.autocast)
                nll, tokens, n_bytes = nll + a, tokens + b, n_bytes + c
            out[f"{split}_loss"] = nll / tokens
            if split == "val":
                out["val_bpb"] = bits_per_byte(nll, n_bytes)
        self.model.train()
        return out

    def eval_sample_checkpoint(self) -> None:
        m = self.evaluate()
        self.last_val_loss = m["val_loss"]
        best = self.best_val_loss is None or m["val_loss"] < self.best_val_loss
        if best:
            self.best_val_loss, self.best_val_bpb, self.best_step = m["val_loss"], m["val_bpb"], self.step
        self.emit({"event": "eval", "step": self.step, **m, "best": best})
        text = sample_text(self.model, self.tok, self.tc.sample_tokens, seed=self.tc.seed + self.step,
                           device=self.device)
        self.emit({"event": "sample", "step": self.step, "text": text})
        self.save(best=best)

    # ---------------------------------------------------------------------------------------------
    # the loop

    def run(self) -> Event:
        tc = self.tc
        self.emit({"event": "start", "step": self.step, "max_steps": tc.max_steps, "max_time": tc.max_time,
                   "params": self.model.num_params(), "tokens_per_step": self.tokens_per_step,
                   "device": self.device.type, "dtype": dtype_name(self.dtype), "resumed": self.resumed,
                   "compile": tc.compile, "threads": torch.get_num_threads(), "peak_flops": self.peak_flops,
                   "elapsed_s": self.elapsed})
        reason = self.finished()
        if reason:
            what = f"{tc.max_time:g} s" if tc.max_time else f"{tc.max_steps} steps"
            return {"event": "done", "step": self.step, "reason": reason,
                    "message": f"run '{self.name}' has already trained for {what}; raise --max-steps or "
                               f"--max-time to train it further."}
        window_time, window_steps = 0.0, 0
        step_time_avg: float | None = None
        saved_step = self.step if self.resumed else -1
        next_probe = self.elapsed + 30.0
        while True:
            if self.probing and tc.max_time and self.elapsed >= next_probe:
                # the load of a shared machine changes; a time budget is best spent on the faster count
                set_threads(probe_threads(self.dtype, self.cores))
                next_probe = self.elapsed + 30.0
            t0 = time.perf_counter()
            loss, lr, grad_norm = self.train_step()
            if not math.isfinite(loss):
                self._diverged(loss)
            dt = time.perf_counter() - t0
            self.step += 1
            self.elapsed += dt
            self.tokens_seen += self.tokens_per_step
            window_time += dt
            window_steps += 1
            # the first step (and a compile) is slow: keep it out of the average that feeds the ETA
            if self.step > 1 or self.resumed:
                step_time_avg = dt if step_time_avg is None else 0.9 * step_time_avg + 0.1 * dt
            reason = self.finished()
            if self.step % tc.log_interval == 0 or reason or self.stop.is_set():
                tps = window_steps * self.tokens_per_step / max(window_time, 1e-9)
                if tc.max_time:
                    eta = max(0.0, tc.max_time - self.elapsed)
                else:
                    eta = (tc.max_steps - self.step) * (step_time_avg or dt)
                self.emit({"event": "step", "step": self.step, "loss": loss, "lr": lr, "tokens_per_s": tps,
                           "mfu": tps * self.flops_per_token / self.peak_flops, "elapsed_s": self.elapsed,
                           "eta_s": eta, "grad_norm": grad_norm, "tokens": self.tokens_seen,
                           "threads": torch.get_num_threads()})
                window_time, window_steps = 0.0, 0
            if self.step % tc.eval_interval == 0 or reason:
                t1 = time.perf_counter()
                self.eval_sample_checkpoint()
                saved_step = self.step
                # evaluations are part of the wall-clock budget
                self.eval_seconds = time.perf_counter() - t1
                self.elapsed += self.eval_seconds
                reason = reason or self.finished()
            if reason:
                break
            if self.stop.is_set():
                if saved_step != self.step:
                    self.save()
                path = runs.run_dir(self.name)
                return {"event": "done", "step": self.step, "reason": "interrupted",
                        "message": f"stopped at step {self.step}; checkpoint saved in {path}. "
                                   f"Run the same command again to resume."}
        best = f", best validation loss {self.best_val_loss:.4f} ({self.best_val_bpb:.3f} bits/byte)" \
            if self.best_val_loss is not None else ""
        return {"event": "done", "step": self.step, "reason": reason,
                "message": f"trained {self.step} steps in {self.elapsed:.0f} s{best}; weights in "
                           f"{runs.run_dir(self.name)}."}

    def _diverged(self, loss: float) -> None:
        kept = runs.state_summary(self.name)
        where = f"the checkpoint of step {kept['step']} is kept" if kept else "no checkpoint was written"
        raise TinyGPTError(f"The loss became {loss} at step {self.step + 1}, so training stopped; {where}.",
                           "lower the learning rate (--lr) or train in float32 (--dtype float32), then resume.")


# --------------------------------------------------------------------------------------------------
# orchestration


def _check_checkpoint(name: str, cfg: RunConfig, tok: Tokenizer | None):
    """Validate an existing resume point before anything is written; returns it (or None)."""
    d = runs.run_dir(name)
    resume = runs.load_state(name)
    if resume is None:
        if (d / runs.WEIGHTS).exists():
            raise TinyGPTError(f"Run '{name}' has weights but no training state (state.safetensors), so it "
                               "cannot be resumed.", "train under a new --run name, or restore the state file.")
        return None
    s = resume[1]
    if tok is None:
        raise TinyGPTError(f"Run '{name}' has a checkpoint but no tokenizer.json.",
                           "restore the run's tokenizer.json; a new tokenizer would not match the weights.")
    runs.check_vocab(cfg, tok, name)
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
    return resume


def train_run(name: str, on_event: Callable[[Event], None] | None = None,
              stop: threading.Event | None = None) -> Event:
    """Prepare whatever is missing for run ``name`` and train it (or resume it). Returns the final
    ``done`` event. Raises TinyGPTError (after emitting an ``error`` event) on a user-fixable problem."""
    from . import shards as shards_mod
    from . import sources
    from .tokenizer import load_tokenizer, train_tokenizer

    stop = stop or threading.Event()

    def emit(event: Event) -> None:
        event = {"event": event["event"], "time": time.time(), **{k: v for k, v in event.items() if k != "event"}}
        # JSON has no NaN: a diverged loss is reported as null (and by the error event)
        event = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in event.items()}
        if valid_run_name(name) and runs.run_exists(name):
            runs.append_metric(name, event)
        if on_event:
            on_event(event)

    try:
        cfg = runs.load_run_config(name)
        # a device or dtype this machine lacks fails now, not after minutes of data preparation
        device = resolve_device(cfg.train.device)
        if cfg.train.dtype != "auto":
            resolve_dtype(cfg.train.dtype, device)
    except TinyGPTError as err:
        emit({"event": "error", "message": err.message, "hint": err.hint})
        raise
    d = runs.run_dir(name)

    def progress(stage: str):
        last = [0.0]

        def report(done: int, total: int | None = None) -> None:
            if stop.is_set():
                raise _Interrupted
            now = time.monotonic()
            if now - last[0] >= 0.2 or (total is not None and done >= total):
                last[0] = now
                emit({"event": "progress", "stage": stage, "done": int(done), "total": total})
        return report

    try:
        runs.acquire_lock(name)
    except TinyGPTError as err:
        emit({"event": "error", "message": err.message, "hint": err.hint})
        raise
    try:
        remove_orphaned_temp_files(runs.run_dir(name))  # left by a process killed mid-write
        tok = load_tokenizer(d / runs.TOKENIZER) if (d / runs.TOKENIZER).exists() else None
        resume = _check_checkpoint(name, cfg, tok)

        emit({"event": "stage", "stage": "corpus", "message": f"preparing the corpus from {cfg.data.source}"})
        dataset_dir = Path(sources.prepare_corpus(cfg.data, progress=progress("corpus")))
        corpus = dataset_dir / "corpus.txt"

        if tok is None:
            emit({"event": "stage", "stage": "tokenizer",
                  "message": f"training a {cfg.tokenizer.kind} tokenizer" if cfg.tokenizer.kind != "gpt2"
                  else "loading the GPT-2 tokenizer"})
            tok = train_tokenizer(cfg.tokenizer, corpus, progress=progress("tokenizer"))
            tok.save(d / runs.TOKENIZER)
        if resume is None and cfg.model.vocab_size != tok.vocab_size:
            cfg.model.vocab_size = tok.vocab_size
            runs.save_run_config(cfg)
        runs.check_vocab(cfg, tok, name)

        emit({"event": "stage", "stage": "shards", "message": "tokenizing the corpus into shards"})
        sdir = shards_mod.shards_dir(dataset_dir, tok)
        # returns at once when complete shards of this corpus and tokenizer are already there
        shards_mod.prepare_shards(corpus, tok, sdir, cfg.data.val_fraction, cfg.data.seed,
                                  progress=progress("shards"))
        shard_set = shards_mod.open_shards(sdir, tok)

        if stop.is_set():
            raise _Interrupted
        emit({"event": "stage", "stage": "model", "message": "building the model"
              + (" and restoring the checkpoint" if resume else "")})
        trainer = Trainer(name, cfg, tok, shard_set, emit, stop, resume)
        del resume  # the trainer holds what it needs
        emit({"event": "stage", "stage": "training", "message": f"training on {trainer.device.type} "
              f"in {dtype_name(trainer.dtype)}" + (" with torch.compile" if cfg.train.compile else "")})
        done = trainer.run()
        emit(done)
        return done | {"best_val_loss": trainer.best_val_loss, "best_val_bpb": trainer.best_val_bpb,
                       "val_loss": trainer.last_val_loss, "elapsed_s": trainer.elapsed}
    except _Interrupted:
        done = {"event": "done", "step": 0, "reason": "interrupted",
                "message": "stopped before training began; run the same command again to continue."}
        emit(done)
        return done
    except TinyGPTError as err:
        emit({"event": "error", "message": err.message, "hint": err.hint})
        raise
    finally:
        runs.release_lock(name)


# --------------------------------------------------------------------------------------------------
# process entry: python -m tinygpt_tui.train --run NAME


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygpt_tui.train",
                                     description="Train one run, printing one JSON event per line.")
    parser.add_argument("--run", required=True, help="the run's name (models/NAME must have a config.json)")
    parser.add_argument("--models-dir", help="where runs live (default ./models or $TINYGPT_MODELS)")
    parser.add_argument("--data-dir", help="where datasets live (default ./data or $TINYGPT_DATA)")
    args = parser.parse_args(argv)
    if args.models_dir:
        os.environ["TINYGPT_MODELS"] = args.models_dir
    if args.data_dir:
        os.environ["TINYGPT_DATA"] = args.data_dir

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()  # finish the current step, save, exit 0

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def print_event(event: Event) -> None:
        try:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # the reader went away; training and metrics.jsonl go on
            pass

    try:
        train_run(args.run, on_event=print_event, stop=stop)
    except TinyGPTError:
        return 2  # train_run printed the error event
    return 0


if __name__ == "__main__":
    sys.exit(main())
