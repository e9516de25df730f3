"""Attention maps of one sequence: what every head of every layer attended to.

One full forward pass, not the sampler's cached steps: the maps show what each position attends to
when the whole (cropped) sequence is in view, which is what the explorer asks about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import TinyGPTError
from .present import token_label as present_label

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .model import GPT
    from .tokenizer import Tokenizer


@dataclass
class AttentionMaps:
    """What every head of every layer attended to over one sequence (pure data, no torch).

    ``weights[layer][head][query][key]`` is the softmax weight query position ``query`` gave key
    position ``key`` (rows sum to 1; keys after the query get 0, the model is causal).
    """

    ids: list[int]
    """The token ids the model saw (the sequence, cropped to its last ``block_size`` tokens)."""
    labels: list[str]
    """Each token on its own, as the explorer shows it (text, or ``<hex>`` for partial UTF-8)."""
    weights: Any
    """numpy float32 array of shape (n_layer, n_head, T, T)."""
    cropped: int = 0
    """How many tokens at the front of the sequence fell outside the context window."""

    @property
    def n_layer(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_head(self) -> int:
        return int(self.weights.shape[1])


def attention_maps(model: GPT, tok: Tokenizer, ids: list[int]) -> AttentionMaps:
    """Attention maps of one forward pass of ``model`` over ``ids`` (its last ``block_size`` tokens)."""
    import torch

    if not ids:
        raise TinyGPTError("There are no tokens to look at.", "generate or score a text first.")
    block = model.config.block_size
    cropped = max(0, len(ids) - block)
    ids = [int(i) for i in ids[cropped:]]
    device = next(model.parameters()).device
    model.eval()  # no dropout: the maps must be the model's, not a random thinning of them
    with torch.inference_mode():
        out = model(torch.tensor([ids], dtype=torch.long, device=device), return_attention=True)
    assert out.attentions is not None
    # (n_layer, nh, T, T) for the single sequence of the batch
    weights = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    return AttentionMaps(ids=ids, labels=[token_label(tok, i) for i in ids], weights=weights, cropped=cropped)


def token_label(tok: Tokenizer, i: int) -> str:
    """A token on its own, as the explorer shows it: its text, a special's name, or ``<hex>`` bytes."""
    return tok.piece(i) if tok.is_special(i) else present_label(tok.token_bytes(i))
