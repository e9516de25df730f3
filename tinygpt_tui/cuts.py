"""The sampler's cuts at one token: its distribution at each stage of the sampler.

raw (temperature 1) → after temperature → after top-k → after top-p, each stage computed by the one
sampler's own :func:`generate.filtered_distribution` with the settings of the generation (never a
second copy of its logic), so the last stage is exactly what the sampler drew the token from.

Masses are measured on one scale: the distribution after temperature, the one the filters cut (for
greedy sampling, temperature 0, the raw one, as the records' ``cut_mass`` does). On that scale the
mass the last stage keeps plus what each stage removed is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import SamplingConfig, TinyGPTError
from .records import Alternative

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    import torch

    from .tokenizer import Tokenizer

STAGES = ("raw", "temperature", "top-k", "top-p")


@dataclass
class Stage:
    """One stage of the sampler as full tensors (for the core and its tests)."""

    name: str
    ids: torch.Tensor
    """The ids still in play (all of them before any filter), (n,)."""
    probs: torch.Tensor
    """Their probabilities, summing to 1, (n,)."""
    removed: float
    """Mass this stage cut away, on the scale of the distribution after temperature."""
    applied: bool = True
    """False for a stage its setting leaves out (top_k=0, top_p=1, or any filter when greedy)."""


@dataclass
class CutStage:
    """What the views show of one stage (pure data, no torch)."""

    name: str
    setting: str
    """The setting that shaped it (``temperature=0.8``, ``top_k=50``), or ``''`` for raw."""
    applied: bool
    tokens: int
    """How many tokens are left to draw from."""
    removed: float
    prob: float
    """The chosen token's probability at this stage (0 when the stage removed it)."""
    rank: int
    """Its 1-based rank at this stage (0 when the stage removed it)."""
    top: list[Alternative] = field(default_factory=list)


@dataclass
class SamplerCuts:
    token: int
    params: SamplingConfig
    stages: list[CutStage]
    context: int = 0
    """How many tokens the model saw."""

    @property
    def kept(self) -> float:
        """The mass the last stage keeps, on the scale the stages' ``removed`` use."""
        return max(0.0, 1.0 - sum(s.removed for s in self.stages))


def sampler_stages(logits: torch.Tensor, params: SamplingConfig) -> list[Stage]:
    """The distribution of 1-D ``logits`` (vocab,) at each stage of the sampler under ``params``."""
    from .generate import filtered_distribution

    T, k, p = params.temperature, params.top_k, params.top_p
    ids, probs, _ = filtered_distribution(logits, 1.0)
    stages = [Stage("raw", ids, probs, 0.0)]
    if T <= 0:
        # greedy: the argmax alone; what it drops is measured under the raw distribution
        ids, probs, cut = filtered_distribution(logits, T)
        stages.append(Stage("temperature", ids, probs, cut))
        stages.append(Stage("top-k", ids, probs, 0.0, applied=False))
        stages.append(Stage("top-p", ids, probs, 0.0, applied=False))
        return stages
    ids, probs, _ = filtered_distribution(logits, T)
    stages.append(Stage("temperature", ids, probs, 0.0))  # reshapes, removes nothing
    ids, probs, cut_k = filtered_distribution(logits, T, k)
    stages.append(Stage("top-k", ids, probs, cut_k, applied=0 < k < logits.size(-1)))
    ids, probs, cut = filtered_distribution(logits, T, k, p)
    # cut is the mass both filters removed, on the tempered scale: top-p removed what top-k left
    stages.append(Stage("top-p", ids, probs, max(0.0, cut - cut_k), applied=p < 1.0))
    return stages


def _setting(name: str, params: SamplingConfig) -> str:
    return {"raw": "", "temperature": f"temperature={params.temperature:g}", "top-k": f"top_k={params.top_k}",
            "top-p": f"top_p={params.top_p:g}"}[name]


def summarise(stage: Stage, chosen: int, params: SamplingConfig, tok: Tokenizer | None, top: int) -> CutStage:
    """One stage as the views show it: tokens left, the chosen token's rank and probability, the top."""
    import torch

    from .lens import label

    probs, ids = stage.probs, stage.ids
    where = (ids == chosen).nonzero()
    if where.numel():
        prob = float(probs[int(where[0, 0])])
        rank = int((probs > prob).sum()) + 1  # ties share the better rank
    else:
        prob, rank = 0.0, 0
    best_p, order = torch.topk(probs, min(top, probs.numel()))
    best = ids[order].tolist()
    alts = [Alternative(i, tok.piece(i) if tok else str(i), label(tok, i) if tok else str(i), q)
            for i, q in zip(best, best_p.tolist(), strict=True)]
    return CutStage(stage.name, _setting(stage.name, params), stage.applied, int(ids.numel()), stage.removed,
                    prob, rank, alts)


def sampler_cuts(model: Any, tok: Tokenizer, context: list[int], chosen: int, params: SamplingConfig,
                 top: int = 5) -> SamplerCuts:
    """The sampler's stages at the position after ``context`` (the ids the model saw, as
    :func:`generate.sampler_context` gives them) for the token ``chosen``, under ``params``."""
    from .generate import next_token_logits

    if not context:
        raise TinyGPTError("The sampler's cuts need at least one token of context.",
                           "an empty prompt starts from <|endoftext|>: pass that id.")
    ids = [int(i) for i in context[-model.config.block_size:]]
    logits = next_token_logits(model, ids)
    stages = [summarise(s, int(chosen), params, tok, top) for s in sampler_stages(logits, params)]
    return SamplerCuts(int(chosen), params, stages, context=len(ids))
