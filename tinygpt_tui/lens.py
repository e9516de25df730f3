"""The logit lens of one token: what the model would have predicted had it stopped after each layer.

The residual stream at the token's position is read after the embedding (layer 0) and after every
block, and each reading goes through the model's own last steps (the final norm, the output head and,
where the model has one, the logit soft-cap), as if it were the last layer. The last reading is the
model's own output, so its distribution is the one the sampler starts from (temperature 1).

One full forward pass over the context, not the sampler's cached steps; the context is the one the
sampler saw (:func:`generate.sampler_context`), so the numbers are those of the generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import TinyGPTError
from .present import token_label
from .records import Alternative

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    import torch

    from .model import GPT
    from .tokenizer import Tokenizer

LN2 = 0.6931471805599453


@dataclass
class LensLayer:
    """What one layer's reading of the residual stream predicts for the next token."""

    layer: int
    """0 is the embedding (before any block), n the output of block n."""
    top: list[Alternative]
    """The most likely tokens of this reading, best first."""
    prob: float
    """The chosen token's probability under this reading."""
    rank: int
    """The chosen token's 1-based rank under this reading (ties share the better rank)."""
    entropy_bits: float


@dataclass
class LogitLens:
    """Per layer, the prediction of a token's position; pure data (no torch)."""

    token: int
    """The id of the token that was chosen at this position."""
    layers: list[LensLayer] = field(default_factory=list)
    context: int = 0
    """How many tokens the model saw (the window, at most ``block_size``)."""
    cropped: int = 0
    """Tokens of the given context left out because they fell outside the window."""

    @property
    def settled(self) -> int | None:
        """The first layer from which the chosen token is the top prediction at every later layer
        too, or None when the last layer does not put it first (a token sampled below the top)."""
        first = None
        for layer in reversed(self.layers):
            if layer.rank != 1:
                break
            first = layer.layer
        return first


def label(tok: Tokenizer, i: int) -> str:
    """A token on its own, as the explorer shows it: a special's name, its text, or ``<hex>`` bytes."""
    is_special = getattr(tok, "is_special", None)
    return tok.piece(i) if is_special is not None and is_special(i) else token_label(tok.token_bytes(i))


def require_lens(model: Any) -> GPT:
    """``model`` when it is this project's GPT (whose blocks the lens reads), else one sentence."""
    from .model import GPT

    if not isinstance(model, GPT):
        raise TinyGPTError(
            "The logit lens reads the blocks of this project's own GPT; a Hugging Face model does not "
            "expose its residual stream here.",
            "open a run trained here for the lens; the sampler's cuts work with any model.")
    return model


def residual_stream(model: GPT, ids: list[int]) -> torch.Tensor:
    """The residual stream at the last position of ``ids`` after the embedding and after each block:
    (n_layer + 1, n_embd), float32. ``ids`` must fit the context."""
    import torch

    device = model.lm_head.weight.device
    captured: list[torch.Tensor] = []

    def keep(module: Any, inputs: Any, output: Any) -> None:
        # a block returns (stream, attention weights); the embedding's dropout returns the stream
        x = output[0] if isinstance(output, tuple) else output
        captured.append(x[0, -1].detach().float())

    # hooks rather than a second copy of GPT.forward: whatever the variant (learned positions or
    # rotary, the modern recipe's normalised embedding), the stream is the one forward computes
    hooks = [model.transformer.drop.register_forward_hook(keep)]
    hooks += [block.register_forward_hook(keep) for block in model.transformer.h]
    try:
        model(torch.tensor([ids], dtype=torch.long, device=device), last_only=True)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack(captured)  # (n_layer + 1, C)


def logit_lens(model: Any, tok: Tokenizer, context: list[int], chosen: int, top: int = 5) -> LogitLens:
    """The logit lens at the position after ``context`` (the ids the model saw before the token),
    for the token ``chosen`` that was drawn there. A context longer than the window keeps its last
    ``block_size`` ids (generation slides before that happens: pass :func:`sampler_context`'s ids)."""
    import torch
    from torch.nn import functional as F

    gpt = require_lens(model)
    if not context:
        raise TinyGPTError("The lens needs at least one token of context.",
                           "an empty prompt starts from <|endoftext|>: pass that id.")
    block = gpt.config.block_size
    cropped = max(0, len(context) - block)
    ids = [int(i) for i in context[cropped:]]
    was_training = gpt.training
    gpt.eval()  # no dropout: the readings must be the model's, not a random thinning of them
    try:
        with torch.inference_mode():
            stream = residual_stream(gpt, ids)  # (L+1, C)
            # each reading as if it were the last layer: final norm, head, soft-cap (GPT.head)
            logits = gpt.head(gpt.transformer.ln_f(stream.to(gpt.lm_head.weight.dtype))).float()  # (L+1, V)
            logp = F.log_softmax(logits, dim=-1)
            entropy = (-(logp.exp() * logp).sum(-1) / LN2).tolist()
            chosen_lp = logp[:, chosen]
            ranks = ((logp > chosen_lp.unsqueeze(1)).sum(-1) + 1).tolist()
            top_lp, top_ids = torch.topk(logp, min(top, logp.size(-1)), dim=-1)
            top_p, top_i = top_lp.exp().tolist(), top_ids.tolist()
            probs = chosen_lp.exp().tolist()
    finally:
        if was_training:
            gpt.train()
    layers = []
    for layer in range(logits.size(0)):
        alts = [Alternative(i, tok.piece(i), label(tok, i), p) for i, p in zip(top_i[layer], top_p[layer], strict=True)]
        layers.append(LensLayer(layer, alts, probs[layer], int(ranks[layer]), entropy[layer]))
    return LogitLens(token=int(chosen), layers=layers, context=len(ids), cropped=cropped)
