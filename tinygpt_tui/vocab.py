"""Vocabulary statistics: token lengths, the longest tokens, and token frequencies in a shard set.

:func:`breakdown` shows how a text is cut into tokens; :func:`vocab_stats` describes a tokenizer's
vocabulary and, given token shards, how often each token occurs in the training split
(:func:`count_tokens`). Used by ``tinygpt tokens``, the REPL's ``/vocab`` and the app's vocabulary
screen. No torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer


def count_tokens(data: np.ndarray, vocab_size: int, chunk: int = 1 << 24) -> np.ndarray:
    """How often each id occurs in ``data``, in chunks so a large memmap never loads at once."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for i in range(0, len(data), chunk):
        counts += np.bincount(np.asarray(data[i:i + chunk]), minlength=vocab_size)[:vocab_size]
    return counts



HISTOGRAM_MAX_BYTES = 16
"""The token-length histogram every face shows has one row per length up to this many bytes and one
row ``16+`` for all longer tokens (GPT-2 has a few of 128 bytes; a row for each would bury the
shape). The stats keep the exact counts; :func:`histogram_rows` folds them, for every face alike."""


def histogram_rows(histogram: dict[int, int], max_bytes: int = HISTOGRAM_MAX_BYTES) -> list[tuple[str, int]]:
    """``{1: 30, 2: 5, 40: 1}`` -> ``[("1", 30), ("2", 5), ("16+", 1)]``: lengths in order, those of
    ``max_bytes`` or more summed into one last row."""
    rows = [(str(n), c) for n, c in sorted((int(n), c) for n, c in histogram.items()) if n < max_bytes]
    longer = sum(c for n, c in histogram.items() if int(n) >= max_bytes)
    return rows + ([(f"{max_bytes}+", longer)] if longer else [])


def breakdown(tok: Tokenizer, text: str) -> list[dict[str, Any]]:
    """One row per token of ``text``: id, piece ('Ġsoft'), hex ('20 73 ...'), text (' soft')."""
    return [{"id": i, "piece": tok.piece(i), "hex": tok.hex(i), "text": tok.token_text(i)}
            for i in tok.encode(text)]


def vocab_stats(tok: Tokenizer, shards_dir: str | Path | None = None, top: int = 20,
                counts: np.ndarray | None = None) -> dict[str, Any]:
    """Vocabulary statistics; with ``shards_dir`` also token frequencies on its training split.

    Keys: kind, vocab_size, special_tokens, fingerprint, length_histogram ({bytes: count}, specials
    excluded), mean_token_bytes, longest (top tokens by byte length); with shards: tokens (train
    tokens counted), most_frequent / least_frequent (seen at least once; specials excluded),
    never_seen (count) and never_seen_examples, bytes_per_token (corpus bytes per non-special token).
    ``counts`` (of :func:`count_tokens` on the shards' training split) saves counting them again.
    """
    lengths = tok.byte_lengths()
    special_ids = np.array(sorted(tok.special_tokens.values()), dtype=np.int64)
    normal = np.ones(tok.vocab_size, dtype=bool)
    normal[special_ids] = False
    normal_ids = np.flatnonzero(normal)
    hist_keys, hist_counts = np.unique(lengths[normal], return_counts=True)

    def row(i: int, **extra: Any) -> dict[str, Any]:
        return {"id": int(i), "piece": tok.piece(int(i)), "text": tok.token_text(int(i)),
                "bytes": int(lengths[i]), **extra}

    # longest first; ties by id so the output is stable
    order = normal_ids[np.lexsort((normal_ids, -lengths[normal_ids]))]
    stats: dict[str, Any] = {
        "kind": tok.kind,
        "vocab_size": tok.vocab_size,
        "special_tokens": dict(tok.special_tokens),
        "fingerprint": tok.fingerprint(),
        "length_histogram": {int(k): int(c) for k, c in zip(hist_keys, hist_counts, strict=True)},
        "mean_token_bytes": float(lengths[normal].mean()) if normal.any() else 0.0,
        "longest": [row(i) for i in order[:top]],
    }
    if shards_dir is None:
        return stats

    from .shards import open_shards

    shards = open_shards(shards_dir, tok)
    if counts is None:
        counts = count_tokens(shards.train, tok.vocab_size)
    total = int(counts.sum())
    seen = normal_ids[counts[normal_ids] > 0]
    by_count = seen[np.lexsort((seen, -counts[seen]))]
    rare = seen[np.lexsort((seen, counts[seen]))]
    never = normal_ids[counts[normal_ids] == 0]
    n_normal = int(counts[normal_ids].sum())
    stats.update({
        "shards": str(shards.path),
        "tokens": total,
        "most_frequent": [row(i, count=int(counts[i]), share=float(counts[i] / total)) for i in by_count[:top]],
        "least_frequent": [row(i, count=int(counts[i]), share=float(counts[i] / total)) for i in rare[:top]],
        "never_seen": int(len(never)),
        "never_seen_examples": [row(i) for i in never[:top]],
        "special_counts": {s: int(counts[i]) for s, i in tok.special_tokens.items()},
        "bytes_per_token": float((counts * lengths)[normal_ids].sum() / n_normal) if n_normal else 0.0,
    })
    return stats
