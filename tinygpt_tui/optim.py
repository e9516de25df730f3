"""Optimizers and the learning-rate schedule.

Two recipes, chosen per run by ``TrainConfig.optimizer``:

- ``adamw``: AdamW over every parameter, decaying the Linear matrices (nanoGPT's recipe).
- ``muon``: Muon (momentum, then the update orthogonalised by Newton-Schulz iterations) for the
  transformer blocks' 2-D matrices, AdamW for embeddings, head, norms and biases. In the public
  speedruns (modded-nanogpt, nanochat) this reached the same loss in about 1.3x fewer steps at
  nearly the same cost per step. ``torch.optim.Muon`` ships with PyTorch 2.9 and later; on an older
  PyTorch the run falls back to AdamW and says so.

The schedule is a multiplier in [0, 1] applied to each group's peak rate, so both optimizers follow
one curve: linear warmup, then ``cosine`` decay or ``wsd`` (warmup-stable-decay: hold the peak, then
decay linearly over the final ``cooldown`` share). With a wall-clock budget (``max_time``) progress is
measured in training time. Under ``wsd`` a machine that is slow for a while only shortens the stable
phase: the rate does not decay before the final share of the budget, whatever happened earlier.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .config import TrainConfig
from .model import GPT

PEAK = "peak_lr"  # each param group remembers its own peak rate under this key


def muon_available() -> bool:
    return hasattr(torch.optim, "Muon")


def lr_factor(tc: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """The schedule's multiplier of the peak learning rate for optimizer step ``step`` (0-based)."""
    floor = tc.min_lr / tc.lr
    if tc.max_time:
        progress = elapsed / tc.max_time
        warm = min(tc.warmup_steps / tc.max_steps, 0.5)
        if progress < warm:
            return max(progress / warm, 0.01)  # a floor so the very first step still learns
    else:
        if step < tc.warmup_steps:
            return (step + 1) / tc.warmup_steps
        warm = tc.warmup_steps / tc.max_steps
        progress = step / tc.max_steps
    if progress >= 1.0:
        return floor
    if tc.schedule == "wsd":
        decay_from = max(1.0 - tc.cooldown, warm)
        if progress < decay_from:
            return 1.0
        ratio = (progress - decay_from) / max(1.0 - decay_from, 1e-9)
        return floor + (1.0 - floor) * (1.0 - ratio)
    ratio = (progress - warm) / max(1.0 - warm, 1e-9)
    coeff = 0.5 * (1.0 + math.cos(math.pi * min(max(ratio, 0.0), 1.0)))  # 1 -> 0
    return floor + coeff * (1.0 - floor)


def learning_rate(tc: TrainConfig, step: int, elapsed: float = 0.0) -> float:
    """AdamW's learning rate at this point of the schedule (what progress displays show)."""
    return tc.lr * lr_factor(tc, step, elapsed)


def set_lr_factor(optimizer: Any, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group[PEAK] * factor


def ns_dtype_for(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype of Muon's orthogonalisation for a run training in ``dtype`` on ``device``: PyTorch's
    bfloat16, except on a CPU whose run does not train in bfloat16 (one without fast bf16 matmuls,
    or a run asked to train in float32 there), where it is float32."""
    return torch.float32 if device.type == "cpu" and dtype != torch.bfloat16 else torch.bfloat16


def orthogonalise(update: torch.Tensor, coefficients: tuple[float, float, float], steps: int, eps: float,
                  dtype: torch.dtype) -> torch.Tensor:
    """Muon's quintic Newton-Schulz iteration (the coefficients and steps ``torch.optim.Muon`` uses),
    computed in ``dtype``: the update with its singular values pushed towards one."""
    a, b, c = coefficients
    x = update.to(dtype)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)  # spectral norm at most one
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def rate_scale(adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """Muon's per-matrix learning-rate scale, as ``torch.optim.Muon`` computes it for ``adjust_lr_fn``."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


class Float32Muon(getattr(torch.optim, "Muon", torch.optim.Optimizer)):  # type: ignore[misc]
    """``torch.optim.Muon`` with its Newton-Schulz iteration in float32 instead of bfloat16.

    PyTorch's Muon orthogonalises every update in bfloat16, which a CPU without bf16 instructions
    computes far slower than float32: on an AVX2 machine Muon's step for the quick start's 4 x 192
    took 3.20 s against 0.41 s for its forward and backward, and 0.106 s in float32
    (``benchmarks/muon_cost.py``). The trainer uses this class where the
    run does not train in bfloat16 on a CPU; the update is otherwise PyTorch's (momentum, Nesterov,
    decoupled weight decay, the rate scaling), and its state (``momentum_buffer``) is the
    same, so a checkpoint moves between the two."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay, beta = float(group["lr"]), group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - beta)
                update = p.grad.lerp(buf, beta) if group["nesterov"] else buf
                update = orthogonalise(update, group["ns_coefficients"], group["ns_steps"], group["eps"],
                                       torch.float32)
                p.mul_(1 - lr * decay)
                p.add_(update.to(p.dtype), alpha=-lr * rate_scale(group["adjust_lr_fn"], p.shape))
        return loss


class MuonAdamW:
    """Muon and AdamW stepped as one optimizer, with one state dict.

    The state dict numbers Muon's parameters first and AdamW's after them, the layout a single
    ``torch.optim.Optimizer`` would give, so the checkpoint codec stores it like AdamW's alone.
    """

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer):
        self.muon, self.adamw = muon, adamw
        self._split = sum(len(g["params"]) for g in muon.param_groups)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.muon.param_groups + self.adamw.param_groups

    @property
    def state(self) -> Any:
        return {**self.muon.state, **self.adamw.state}

    def step(self) -> None:
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        m, a = self.muon.state_dict(), self.adamw.state_dict()
        state = dict(m["state"])
        state.update({i + self._split: st for i, st in a["state"].items()})
        groups = m["param_groups"] + [
            {**g, "params": [i + self._split for i in g["params"]]} for g in a["param_groups"]]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        n_muon = len(self.muon.param_groups)
        m_groups, a_groups = sd["param_groups"][:n_muon], sd["param_groups"][n_muon:]
        self.muon.load_state_dict({
            "state": {i: st for i, st in sd["state"].items() if int(i) < self._split},
            "param_groups": m_groups})
        self.adamw.load_state_dict({
            "state": {int(i) - self._split: st for i, st in sd["state"].items() if int(i) >= self._split},
            "param_groups": [{**g, "params": [i - self._split for i in g["params"]]} for g in a_groups]})


def _adamw(groups: list[dict], tc: TrainConfig, betas: tuple[float, float], eps: float) -> torch.optim.AdamW:
    kwargs: dict[str, Any] = dict(lr=tc.lr, betas=betas, eps=eps)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, foreach=True, **kwargs)


def make_optimizer(model: GPT, tc: TrainConfig, ns_dtype: torch.dtype = torch.bfloat16) -> tuple[Any, str | None]:
    """The run's optimizer, and a note when the configured one could not be had here. ``ns_dtype``:
    the dtype of Muon's orthogonalisation (PyTorch's bfloat16, or float32 where bf16 is slow)."""
    note = None
    if tc.optimizer == "muon" and muon_available():
        hidden = model.hidden_matrices()
        # Keller Jordan's scaling (sqrt(max(1, rows/cols))) keeps the update's size alike across shapes
        kind = torch.optim.Muon if ns_dtype == torch.bfloat16 else Float32Muon
        muon = kind(hidden, lr=tc.muon_lr, weight_decay=tc.weight_decay, momentum=0.95,
                    nesterov=True, adjust_lr_fn="original")
        adamw = _adamw(model.optimizer_groups(0.0, exclude=hidden), tc, betas=(0.8, 0.95), eps=1e-10)
        opt: Any = MuonAdamW(muon, adamw)
    else:
        if tc.optimizer == "muon":
            note = (f"this PyTorch ({torch.__version__}) has no torch.optim.Muon (2.9 or later has it); "
                    "training every parameter with AdamW instead")
        opt = _adamw(model.optimizer_groups(tc.weight_decay), tc, betas=(tc.beta1, tc.beta2), eps=1e-8)
    for group in opt.param_groups:
        group[PEAK] = group["lr"]
    return opt, note
