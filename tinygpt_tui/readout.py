"""What a record says about a token, shared by sampling (:mod:`generate`) and scoring
(:mod:`scoring`): a memo of each id's bytes, piece, hex and display; the clean-text stream that holds
back a character split over tokens until it is whole; and the raw distribution's numbers for a row of
logits (log-probability, entropy, rank, top alternatives)."""

from __future__ import annotations

import codecs
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from .present import token_label
from .records import Alternative, TokenRecord

if TYPE_CHECKING:
    from .tokenizer import Tokenizer

LN2 = math.log(2.0)


class Vocab:
    """Memo of what records need about an id (bytes, piece, hex, display): tokenizers are slow-ish
    per call and the same ids come back often (alternatives especially)."""

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        self.specials: set[int] = set(getattr(tok, "special_tokens", {}).values()) | {tok.eot_id}
        self._info: dict[int, tuple[bytes, str, str, str]] = {}

    def info(self, i: int) -> tuple[bytes, str, str, str]:
        got = self._info.get(i)
        if got is None:
            data = self.tok.token_bytes(i)
            got = (data, self.tok.piece(i), self.tok.hex(i), token_label(data))
            self._info[i] = got
        return got

    def alternatives(self, ids: list[int], probs: list[float]) -> list[Alternative]:
        out = []
        for i, p in zip(ids, probs, strict=True):
            _, piece, _, disp = self.info(i)
            out.append(Alternative(i, piece, disp, p))
        return out


class TextStream:
    """Turns token bytes into clean text: holds back incomplete UTF-8 sequences, so a character split
    over tokens appears once, whole, on the token that completes it."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, token_id: int, data: bytes) -> str:
        if token_id in self.vocab.specials:
            # a special token stands for itself, not for bytes; EOT ends a document and shows nothing
            pending = self.flush()
            return pending if token_id == self.vocab.tok.eot_id else pending + data.decode("utf-8", "replace")
        return self.decoder.decode(data)

    def flush(self) -> str:
        """Whatever is held back (only ever a truncated character, shown as U+FFFD)."""
        text = self.decoder.decode(b"", final=True)
        self.decoder.reset()
        return text

    def resume(self, held: bytes) -> None:
        """Start from ``held``, the bytes of a character a text before this one left unfinished (see
        :func:`held_bytes`): the token that completes it then shows the whole character."""
        self.decoder.decode(held)  # an unfinished character: nothing comes out yet

    def held(self) -> bytes:
        """The bytes of the unfinished character held back now (b"" between characters)."""
        return self.decoder.getstate()[0]


def held_bytes(tok: Tokenizer, records: Sequence[TokenRecord]) -> bytes:
    """The bytes of an unfinished UTF-8 character that ``records``' text ends with: what the text
    stream that made them still held back after the last one (a branch that continues from there
    starts its own stream with them, so the character it completes is decoded whole)."""
    stream = TextStream(Vocab(tok))
    for r in records:
        stream.feed(r.id, r.bytes)
    return stream.held()


def raw_stats(
    logits: torch.Tensor, chosen: torch.Tensor, n_alt: int
) -> tuple[list[float], list[float], list[int], list[list[int]], list[list[float]]]:
    """Inspection numbers under the raw distribution for rows of ``logits`` (T, V) and ``chosen`` (T,):
    log-probability of the chosen token, entropy in bits, rank, and the top ``n_alt`` alternatives."""
    logp = F.log_softmax(logits, dim=-1)  # (T, V), the one softmax of the raw distribution
    entropy = -(logp.exp() * logp).sum(dim=-1) / LN2  # (T,)
    chosen_lp = logp.gather(1, chosen.view(-1, 1)).squeeze(1)  # (T,)
    rank = (logp > chosen_lp.unsqueeze(1)).sum(dim=-1) + 1  # (T,) ties share the better rank
    if n_alt > 0:
        alt_lp, alt_ids = torch.topk(logp, min(n_alt, logp.size(-1)), dim=-1)  # (T, n)
        alt_ids_l, alt_p_l = alt_ids.tolist(), alt_lp.exp().tolist()
    else:
        alt_ids_l, alt_p_l = [[] for _ in range(logits.size(0))], [[] for _ in range(logits.size(0))]
    return chosen_lp.tolist(), entropy.tolist(), rank.tolist(), alt_ids_l, alt_p_l


def token_record(vocab: Vocab, token: int, *, index: int, sample: int, text: str, logprob: float,
                 prob_sampled: float, entropy: float, rank: int, alternatives: list[Alternative],
                 cut_mass: float, note: str, finish: str | None = None) -> TokenRecord:
    """The record of ``token`` at ``index``: what ``vocab`` knows of the id, its clean ``text``, and
    its numbers under the raw distribution (``logprob`` in nats; probability and surprisal follow)."""
    data, piece, hx, disp = vocab.info(token)
    return TokenRecord(index=index, sample=sample, id=token, bytes=data, piece=piece, hex=hx, text=text,
                       display=disp, prob=math.exp(logprob), logprob=logprob, prob_sampled=prob_sampled,
                       surprisal_bits=-logprob / LN2, entropy_bits=entropy, rank=rank,
                       alternatives=alternatives, cut_mass=cut_mass, note=note, finish=finish)
