"""Streaming sampling that explains itself, one record per token.

:func:`generate` runs the model over its KV cache and yields a :class:`TokenRecord` for every token
it samples: the token's bytes, display piece and hex, the clean text it completes, its probability
under the raw model distribution (temperature 1, no filters) and under the sampler's distribution
(after temperature, top-k and top-p), surprisal, the distribution's entropy, the chosen token's
rank, the top alternatives and the probability mass the filters cut away.

:func:`scoring.score_text` produces the same records for a text the user supplies (teacher forcing),
plus bits per byte; :mod:`readout` holds what both say about a token.

Design notes:
- One forward pass per token: the prompt is prefilled once, then every new token costs one position.
  When prompt plus output outgrow the context, the window slides: the last 3/4 of the context is
  prefilled into a fresh cache and the next record carries a note saying so.
- Clean text goes through an incremental UTF-8 decoder, so a character split over several tokens is
  held back until it is complete instead of showing as U+FFFD. A token's own bytes that are not valid
  UTF-8 by themselves are displayed as hex (``display``).
- Tensor work runs under ``torch.inference_mode`` one step at a time; the generator never stays
  inside the mode while suspended, so the caller's autograd state is untouched.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from .config import SamplingConfig, TinyGPTError
from .readout import TextStream, Vocab, raw_stats, token_record
from .records import Alternative, TokenRecord

if TYPE_CHECKING:
    from .model import GPT
    from .tokenizer import Tokenizer

__all__ = [
    "Alternative",
    "TokenRecord",
    "generate",
    "generate_samples",
    "encode_prompt",
    "filtered_distribution",
    "resolve_seed",
    "slide_keep",
    "sampler_context",
    "next_token_logits",
    "collect_text",
]


# --------------------------------------------------------------------------------------------------
# Distributions


def filtered_distribution(
    logits: torch.Tensor, temperature: float, top_k: int = 0, top_p: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The distribution the sampler draws from, for 1-D ``logits`` (vocab,).

    Returns ``(ids, probs, cut_mass)``: the ids the sampler may pick, their probabilities (summing
    to 1) and the probability mass of the temperature-scaled distribution the filters removed.
    Temperature scales first, then top-k keeps the k most likely tokens, then top-p keeps the smallest
    set (of what top-k left, renormalised) whose probability reaches p. Temperature 0 is greedy.
    When something is filtered the ids come most likely first.
    """
    V = logits.size(-1)
    if temperature <= 0:
        top = torch.argmax(logits)
        p_top = torch.softmax(logits, dim=-1)[top]
        return top.view(1), torch.ones(1, device=logits.device), float(1.0 - p_top)
    # shift first so that a tiny temperature cannot overflow to inf (softmax is shift-invariant)
    scaled = (logits - logits.max()) / temperature
    k = top_k if 0 < top_k < V else V
    if k == V and top_p >= 1.0:
        # nothing to filter: no sort needed
        return torch.arange(V, device=logits.device), torch.softmax(scaled, dim=-1), 0.0
    if k < V:
        vals, ids = torch.topk(scaled, k)  # most likely first
    else:
        vals, ids = torch.sort(scaled, descending=True)
    cand = torch.exp(vals - torch.logsumexp(scaled, dim=-1))  # tempered probabilities of the candidates
    n = k
    if top_p < 1.0:
        cum = torch.cumsum(cand, dim=0) / cand.sum()
        # smallest prefix whose share reaches top_p: the count of prefixes still short of it, plus one
        n = min(k, int((cum < top_p).sum()) + 1)
    kept = cand[:n]
    mass = kept.sum()
    return ids[:n], kept / mass, max(0.0, float(1.0 - mass))


# --------------------------------------------------------------------------------------------------
# Prompt handling


def slide_keep(block_size: int) -> int:
    """How many tokens stay when the context window slides (3/4 of it: room to go on, most context kept)."""
    return max(1, block_size * 3 // 4)


def sampler_context(prompt_ids: Sequence[int], generated: Sequence[int], index: int, block_size: int) -> list[int]:
    """The ids the sampler's model saw when it drew token ``index`` of a sample: the prompt (cropped
    to its last :func:`slide_keep` tokens when longer than the context), then the ``generated`` ids
    before ``index``, the window sliding to its last :func:`slide_keep` tokens each time it outgrows
    ``block_size``, exactly as :func:`generate` slides it. A view that recomputes a token's logits
    with one forward pass over these ids gets the distribution the sampler drew from."""
    keep = slide_keep(block_size)
    ids = list(prompt_ids)
    if len(ids) > block_size:
        ids = ids[-keep:]
    for token in generated[:index]:
        ids.append(int(token))
        if len(ids) > block_size:  # generate() slides when the cache cannot take one more position
            ids = ids[-keep:]
    return ids


def encode_prompt(tok: Tokenizer, prompt: str, what: str = "prompt") -> list[int]:
    """Token ids of ``prompt``; an empty prompt starts from ``<|endoftext|>`` (a fresh document).

    Raises TinyGPTError when the tokenizer cannot represent a character of the prompt (``what``
    names it in the message: "prompt", "text").
    """
    check = getattr(tok, "can_encode", None)
    bad = check(prompt) if check is not None else None
    if bad:
        raise TinyGPTError(
            f"The {what} contains {bad!r} (U+{ord(bad[0]):04X}), which this run's "
            f"{getattr(tok, 'kind', '')} tokenizer cannot represent.".replace("  ", " "),
            "remove that character, or use a run with a byte-level BPE or GPT-2 tokenizer.",
        )
    ids = tok.encode(prompt) if prompt else []
    start = doc_start_id(tok)
    if start is not None:  # a tokenizer that begins every document with its BOS (Llama's)
        return [start] + ids
    return ids or [tok.eot_id]


def doc_start_id(tok: Tokenizer) -> int | None:
    """The id a tokenizer puts before every document (Llama's ``<s>``), or None (ours: none)."""
    start = getattr(tok, "doc_start_id", None)
    return int(start) if start is not None else None


def resolve_seed(params: SamplingConfig) -> SamplingConfig:
    """``params`` with a concrete seed: a fresh random one when unset, so the run can be repeated."""
    if params.seed is not None:
        return params
    return replace(params, seed=random.SystemRandom().randrange(2**31))


def _forward_last(model: GPT, ids: Sequence[int], cache) -> torch.Tensor:
    device = model.lm_head.weight.device
    x = torch.tensor([list(ids)], dtype=torch.long, device=device)  # (1, T)
    return model(x, kv_cache=cache, last_only=True).logits[0, -1].float()  # (V,)


def next_token_logits(model: GPT, ids: Sequence[int]) -> torch.Tensor:
    """The logits (vocab,) the model gives the token after ``ids`` (which must fit the context), in
    one forward pass in eval mode: what the sampler saw at that position, for the views that explain it."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return _forward_last(model, ids, None)
    finally:
        if was_training:
            model.train()


# --------------------------------------------------------------------------------------------------
# Generation


def generate(
    model: GPT,
    tok: Tokenizer,
    prompt: str,
    params: SamplingConfig,
    *,
    sample: int = 0,
    cancel: threading.Event | None = None,
    inspect: bool = True,
    stop_at_eot: bool = True,
    context: Sequence[int] | None = None,
    force: int | None = None,
    held: bytes = b"",
) -> Iterator[TokenRecord]:
    """Sample one continuation of ``prompt``, yielding a record per token as soon as it is drawn.

    Stops after ``params.max_new_tokens`` tokens, at ``<|endoftext|>``, after the token that completes
    one of ``params.stop`` (the stop string stays in the output, so every sampled token is visible),
    or when ``cancel`` is set. The seed for sample ``s`` is ``params.seed + s``: a given seed
    reproduces every sample. ``inspect=False`` skips the raw-distribution numbers (prob, logprob,
    entropy, rank, alternatives are NaN/empty) for plain, fastest sampling. ``stop_at_eot=False``
    samples on past ``<|endoftext|>`` (into the next document).

    ``context`` starts from these token ids instead of encoding ``prompt`` (a branch continues from
    ids, which re-encoding their text could tokenize differently). ``force`` makes the first token
    this id instead of a draw, recorded as the model saw it there (its raw probability, rank and
    alternatives; ``prob_sampled`` 0 when the filters had cut it). The forced step draws nothing, so
    what follows is exactly what sampling from ``context + [force]`` with the same seed gives.
    ``held`` (see :func:`readout.held_bytes`) are the bytes of a character the context's text left unfinished:
    the text stream starts with them, so the token that completes it shows the whole character.

    The model is put in eval mode for the duration and restored afterwards.
    """
    params = resolve_seed(params)
    block_size = model.config.block_size
    ids = list(context) if context is not None else encode_prompt(tok, prompt)
    if not ids:
        raise TinyGPTError("There is nothing to continue from.", "give a prompt or some token ids.")
    keep = slide_keep(block_size)
    note = ""
    if len(ids) > block_size:
        note = f"prompt cropped to its last {keep} tokens (context is {block_size})"
        ids = ids[-keep:]

    vocab = Vocab(tok)
    stream = TextStream(vocab)
    if held:
        stream.resume(held)
    device = model.lm_head.weight.device
    gen = torch.Generator(device=device)
    gen.manual_seed(int(params.seed) + sample)
    stops = [s for s in params.stop if s]
    longest_stop = max((len(s) for s in stops), default=0)
    n_alt = params.alternatives
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            cache = model.new_kv_cache(1, block_size)
            logits = _forward_last(model, ids, cache)
        out_text = ""
        for index in range(params.max_new_tokens):
            if cancel is not None and cancel.is_set():
                return
            with torch.inference_mode():
                cand_ids, cand_probs, cut = filtered_distribution(
                    logits, params.temperature, params.top_k, params.top_p
                )
                if index == 0 and force is not None:
                    chosen_t = torch.tensor([force], dtype=torch.long, device=device)
                    where = (cand_ids == force).nonzero()
                    prob_sampled = float(cand_probs[where[0, 0]]) if where.numel() else 0.0
                else:
                    pick = torch.multinomial(cand_probs, 1, generator=gen) if cand_probs.numel() > 1 else None
                    chosen_t = cand_ids[pick] if pick is not None else cand_ids[:1]
                    prob_sampled = float(cand_probs[pick]) if pick is not None else 1.0
                chosen = int(chosen_t)
                if inspect:
                    lp, ent, rank, alt_ids, alt_p = raw_stats(logits.unsqueeze(0), chosen_t.view(1), n_alt)
                    logprob, entropy, rnk = lp[0], ent[0], int(rank[0])
                    alts = vocab.alternatives(alt_ids[0], alt_p[0])
                else:
                    logprob, entropy, rnk, alts = math.nan, math.nan, 0, []

            text = stream.feed(chosen, vocab.info(chosen)[0])
            finish = None
            if chosen == tok.eot_id and stop_at_eot:
                finish = "eot"
            elif stops:
                # a stop string this token completes ends inside `text`: look at that tail only
                tail = (out_text + text)[max(0, len(out_text) - longest_stop + 1) :]
                if text and any(s in tail for s in stops):
                    finish = "stop"
            if finish is None and index == params.max_new_tokens - 1:
                finish = "length"
            if finish is not None and finish != "eot":
                text += stream.flush()
            out_text += text
            yield token_record(vocab, chosen, index=index, sample=sample, text=text, logprob=logprob,
                               prob_sampled=prob_sampled, entropy=entropy, rank=rnk, alternatives=alts,
                               cut_mass=cut, note=note, finish=finish)
            if finish is not None:
                return
            note = ""
            ids.append(chosen)
            with torch.inference_mode():
                if cache.pos + 1 > block_size:
                    # the context is full: start a fresh cache from the most recent tokens
                    ids = ids[-keep:]
                    cache.reset()
                    logits = _forward_last(model, ids, cache)
                    note = f"context full: window slid to the last {len(ids)} tokens"
                else:
                    logits = _forward_last(model, ids[-1:], cache)
    finally:
        if was_training:
            model.train()


def generate_samples(
    model: GPT,
    tok: Tokenizer,
    prompt: str,
    params: SamplingConfig,
    *,
    cancel: threading.Event | None = None,
    inspect: bool = True,
) -> Iterator[TokenRecord]:
    """``params.num_samples`` continuations one after another; ``record.sample`` tells them apart."""
    params = resolve_seed(params)
    for s in range(params.num_samples):
        if cancel is not None and cancel.is_set():
            return
        yield from generate(model, tok, prompt, params, sample=s, cancel=cancel, inspect=inspect)


def collect_text(records: list[TokenRecord]) -> str:
    """The clean text of a list of records (one sample)."""
    return "".join(r.text for r in records)

