"""Scoring a text under teacher forcing, one :class:`TokenRecord` per token (the records sampling
makes, :mod:`generate`), and its bits per byte. Long texts are read in the windows evaluation reads
them in (:func:`evaluate.score_windows`), so a text's score here and ``tinygpt eval``'s agree."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from .config import TinyGPTError
from .evaluate import score_windows
from .generate import doc_start_id, encode_prompt
from .readout import TextStream, Vocab, raw_stats, token_record
from .records import ScoreResult, TokenRecord

if TYPE_CHECKING:
    from .model import GPT
    from .tokenizer import Tokenizer

__all__ = ["score_text", "score_ids", "score_context", "count_bytes"]


def score_text(
    model: GPT,
    tok: Tokenizer,
    text: str,
    *,
    alternatives: int = 5,
    cancel: threading.Event | None = None,
) -> ScoreResult:
    """Per-token surprisal of ``text`` under teacher forcing, and its bits per byte.

    The first token is conditioned on ``<|endoftext|>`` (the text is read as a fresh document). Texts
    longer than the context are scored in the windows of :func:`evaluate.score_windows` (the ones
    ``tinygpt eval`` uses): each new window re-reads the previous half window as context, so every
    token after the first window sees at least block_size/2 tokens.
    """
    if not text:
        raise TinyGPTError("There is no text to score.", "pass some text, or --file PATH.")
    ids = encode_prompt(tok, text, what="text")
    if doc_start_id(tok) is not None:
        ids = ids[1:]  # the document start is the context, not a token to score
    return score_ids(model, tok, ids, alternatives=alternatives, cancel=cancel)


def score_ids(
    model: GPT,
    tok: Tokenizer,
    ids: Sequence[int],
    *,
    alternatives: int = 5,
    cancel: threading.Event | None = None,
) -> ScoreResult:
    """:func:`score_text` of text already tokenized (``ids`` without a document start), as training's
    story is: its ids come from the validation shard, and decoding and encoding them again could cut
    them differently."""
    ids = [int(i) for i in ids]
    start = doc_start_id(tok)
    seq = [tok.eot_id if start is None else start] + ids  # seq[j] predicts seq[j + 1]
    n = len(ids)
    block = model.config.block_size
    vocab = Vocab(tok)
    stream = TextStream(vocab)
    device = model.lm_head.weight.device
    records: list[TokenRecord] = []
    was_training = model.training
    model.eval()
    try:
        # the one window scheme, shared with evaluation: inputs seq[start:end], targets scored from
        # seq[start + first + 1] on (the `first` before them were scored by the previous window)
        for start, end, first in score_windows(len(seq), block):
            if cancel is not None and cancel.is_set():
                break
            done = start + first  # targets scored so far
            with torch.inference_mode():
                x = torch.tensor([seq[start:end]], dtype=torch.long, device=device)
                logits = model(x).logits[0, first:].float()  # (end-done, V)
                targets = torch.tensor(seq[done + 1 : end + 1], dtype=torch.long, device=device)
                lp, ent, rank, alt_ids, alt_p = raw_stats(logits, targets, alternatives)
            note = f"window slid: {first} tokens of context re-read" if done > 0 else ""
            for j in range(end - done):
                tid = seq[done + 1 + j]
                piece_text = stream.feed(tid, vocab.info(tid)[0])
                if done + j == n - 1:
                    piece_text += stream.flush()
                records.append(token_record(
                    vocab, tid, index=done + j, sample=0, text=piece_text, logprob=lp[j],
                    prob_sampled=math.exp(lp[j]), entropy=ent[j], rank=int(rank[j]),
                    alternatives=vocab.alternatives(alt_ids[j], alt_p[j]), cut_mass=0.0,
                    note=note if j == 0 else ""))
    finally:
        if was_training:
            model.train()
    n_bytes = count_bytes(tok, [r.id for r in records])
    bits = sum(r.surprisal_bits for r in records)
    return ScoreResult(records, bits / max(1, n_bytes), len(records), n_bytes)


def score_context(seq: Sequence[int], index: int, block_size: int) -> list[int]:
    """The ids :func:`score_text` fed its model before scoring token ``index`` of a text, where
    ``seq`` is the document start followed by the text's ids (``seq[index + 1]`` is the token): the
    part of the window of :func:`evaluate.score_windows` that scored it, up to the token."""
    target = index + 1
    if not 0 < target < len(seq):
        raise TinyGPTError(f"There is no token {index + 1} in a text of {len(seq) - 1} tokens.",
                           f"pick one from 1 to {len(seq) - 1}.")
    for start, end, first in score_windows(len(seq), block_size):
        if start + first < target <= end:
            return [int(i) for i in seq[start:target]]
    raise AssertionError("score_windows scores every target once")  # pragma: no cover


def count_bytes(tok: Tokenizer, ids: list[int]) -> int:
    """Bytes the ids stand for, counted as training's bits-per-byte counts them (specials as 1)."""
    lengths = getattr(tok, "byte_lengths", None)
    if lengths is not None:
        table = lengths()
        return int(sum(int(table[i]) for i in ids))
    return sum(len(tok.token_bytes(i)) for i in ids)
