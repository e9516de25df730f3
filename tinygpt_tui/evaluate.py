"""Measuring a model: loss, bits per byte, and the one sliding-window scheme over long texts.

- :func:`nll_and_bytes` / :func:`bits_per_byte`: the two numbers every evaluation reports;
- :func:`estimate_loss`: the trainer's periodic measure on fixed train and validation batches;
- :func:`evaluate_documents`: ``tinygpt eval`` on documents of any length;
- :func:`score_windows`: how a sequence longer than the context is cut into windows so that every
  target is scored once with at least half a context before it. ``scoring.score_text`` uses the same
  windows, so a text scored token by token and evaluated in bulk sees the same contexts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from .config import TinyGPTError
from .device import autocast as autocast_for

if TYPE_CHECKING:  # pragma: no cover
    from .model import GPT
    from .shards import BatchSampler
    from .tokenizer import Tokenizer

LN2 = math.log(2.0)


def nll_and_bytes(model: GPT, x: torch.Tensor, y: torch.Tensor, byte_lengths: torch.Tensor,
                  autocast: AbstractContextManager) -> tuple[float, int, int]:
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


def byte_lengths_tensor(tok: Tokenizer, device: torch.device | str) -> torch.Tensor:
    """Bytes per token id (specials count one), as a tensor to index with target ids."""
    return torch.as_tensor(np.asarray(tok.byte_lengths()), dtype=torch.long, device=device)


@torch.no_grad()
def estimate_loss(model: GPT, sampler: BatchSampler, eval_iters: int, byte_lengths: torch.Tensor,
                  autocast: AbstractContextManager) -> dict[str, float]:
    """Mean loss on fixed train and validation batches, and validation bits per byte.

    The batch indices are fixed (far past the training stream for "train") so that successive
    evaluations measure the same text. Leaves the model in eval mode; the caller switches back.
    """
    model.eval()
    device = byte_lengths.device
    out: dict[str, float] = {}
    for split in ("train", "val"):
        nll = tokens = n_bytes = 0
        for i in range(eval_iters):
            index = i if split == "val" else 10**9 + i
            x, y = sampler.get(split, index)
            a, b, c = nll_and_bytes(model, x.to(device), y.to(device), byte_lengths, autocast)
            nll, tokens, n_bytes = nll + a, tokens + b, n_bytes + c
        out[f"{split}_loss"] = nll / tokens
        if split == "val":
            out["val_bpb"] = bits_per_byte(nll, n_bytes)
    return out


def score_windows(n: int, block_size: int) -> list[tuple[int, int, int]]:
    """Windows over a sequence of ``n`` token ids so that every target (positions 1..n-1) is scored
    exactly once, with at least half a context before it once the sequence outgrows the context.

    Returns ``(start, end, first)``: input ids ``[start, end)``, targets ``[start+1, end+1)`` of which
    those from local index ``first`` on are scored (the ones before were scored by the previous window
    and are re-read as context).
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
    (which counts as one byte), sliding over long documents in :func:`score_windows`.
    """
    device = torch.device(device)
    model.eval()
    T = model.config.block_size
    byte_lengths = byte_lengths_tensor(tok, device)
    autocast = autocast_for(device, dtype)
    total_nll, total_tokens, total_bytes, docs = 0.0, 0, 0, 0
    pending: list[tuple[list[int], list[int]]] = []

    def flush() -> None:
        nonlocal total_nll, total_tokens, total_bytes
        if not pending:
            return
        width = max(len(x) for x, _ in pending)
        x = torch.zeros(len(pending), width, dtype=torch.long)
        y = torch.full((len(pending), width), -1, dtype=torch.long)  # -1: padding, not scored
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
