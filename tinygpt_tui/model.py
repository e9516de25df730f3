"""A GPT language model in one readable file, in two shapes chosen per run by ``ModelConfig``.

The classic shape is GPT-2 as nanoGPT writes it: token and position embeddings, a stack of pre-norm
blocks (LayerNorm -> causal self-attention -> residual, LayerNorm -> MLP -> residual), a final
LayerNorm and a linear head that shares its weights with the token embedding.

The modern shape swaps in what the public speedruns (modded-nanogpt, nanochat) found to learn faster
at no cost per step, each a switch of its own: rotary positions instead of learned ones, RMSNorm
without weights, RMS-normalised queries and keys, ReLU² in the MLP, residual projections (and an
untied head) initialised at zero, and a tanh soft-cap on the logits. Two more shortcuts are switches
as well: the embedding mixed back in before every block (``x0_mix``) and the first layer's attention
values shared with the later ones (``value_residual``), each weighted by learned scalars.

Two additions for inspection and fast sampling:
- a KV cache (:class:`KVCache`) so that generating a token costs one position, not the whole prefix;
- optional return of each layer's attention maps.

Shapes are noted inline: B batch, T time (tokens), C channels (n_embd), nh heads, hs head size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from .config import ModelConfig


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's own has no bias=False before 2.1)."""

    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """Scale the last dimension to unit root-mean-square; no learned weights."""
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(x.dtype)


class RMSNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x)


def make_norm(config: ModelConfig) -> nn.Module:
    return RMSNorm() if config.norm == "rmsnorm" else LayerNorm(config.n_embd, bias=config.bias)


def rotary_tables(head_size: int, length: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of each position's rotation angles, (length, head_size / 2) each."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of ``x`` (B, nh, T, hs) by the angles of its T positions (T, hs/2).

    A query at position m and a key at position n then meet with a phase of m - n: attention sees
    relative positions, and a cached key keeps its rotation when later tokens arrive.
    """
    x1, x2 = x.float().chunk(2, dim=-1)
    cos, sin = cos[None, None], sin[None, None]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).to(x.dtype)


@dataclass
class KVCache:
    """Keys and values of every layer for the positions seen so far.

    ``k[i]`` and ``v[i]`` are (B, nh, max_T, hs) buffers; ``pos`` is how many positions are filled.
    """

    k: list[torch.Tensor]
    v: list[torch.Tensor]
    pos: int = 0

    @property
    def capacity(self) -> int:
        return self.k[0].size(2)

    def reset(self) -> None:
        self.pos = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int = 0):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # query, key and value projections for all heads, in one matrix
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        attn_p = config.dropout if config.attn_dropout is None else config.attn_dropout
        self.attn_dropout = nn.Dropout(attn_p)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = attn_p
        self.qk_norm = config.qk_norm
        # the weights of this layer's values and the first layer's (value_residual, layers after the first)
        self.value_mix = nn.Parameter(torch.tensor([0.5, 0.5])) if config.value_residual and layer else None

    def forward(
        self,
        x: torch.Tensor,
        cache: tuple[torch.Tensor, torch.Tensor, int] | None = None,
        need_weights: bool = False,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
        v1: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Attention output, the maps when asked for, and this layer's own values (B, nh, T, hs);
        ``v1`` is the first layer's values, mixed into these when the layer has ``value_mix``."""
        B, T, C = x.size()
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        own_v = v
        if v1 is not None and self.value_mix is not None:
            v = self.value_mix[0] * v + self.value_mix[1] * v1
        if self.qk_norm:
            q, k = rms_norm(q), rms_norm(k)
        if rotary is not None:  # the tables already cover exactly these T positions
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)

        past = 0
        if cache is not None:
            k_buf, v_buf, past = cache
            k_buf[:, :, past : past + T] = k
            v_buf[:, :, past : past + T] = v
            k = k_buf[:, :, : past + T]  # (B, nh, past+T, hs)
            v = v_buf[:, :, : past + T]

        S = k.size(2)  # positions attended to
        if need_weights:
            # explicit attention so the maps can be returned; used only for inspection
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, nh, T, S)
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=past)
            att = att.masked_fill(~mask, float("-inf"))
            att = F.softmax(att.float(), dim=-1).to(q.dtype)
            weights = att
            y = self.attn_dropout(att) @ v  # (B, nh, T, hs)
        else:
            weights = None
            dropout_p = self.dropout if self.training else 0.0
            if past == 0:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            elif T == 1:
                # one new token sees every cached position: no mask needed
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
            else:
                mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=past)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads side by side
        return self.resid_dropout(self.c_proj(y)), weights, own_v


class ReLU2(nn.Module):
    """ReLU squared: as cheap as ReLU, and it learned faster than GELU in the speedruns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        # the attribute keeps its GPT-2 name so that classic checkpoints' module tree is unchanged
        self.gelu = (ReLU2() if config.activation == "relu2"
                     else nn.GELU(approximate="tanh") if config.activation == "gelu_tanh" else nn.GELU())
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer: int = 0):
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config, layer)
        self.ln_2 = make_norm(config)
        self.mlp = MLP(config)
        # the weights of the stream and of the embedding entering this block (x0_mix)
        self.x0_mix = nn.Parameter(torch.tensor([1.0, 0.0])) if config.x0_mix else None

    def forward(self, x, cache=None, need_weights=False, rotary=None, x0=None, v1=None):
        """The stream after this block, its attention maps when asked for, and its attention's values."""
        if self.x0_mix is not None and x0 is not None:
            x = self.x0_mix[0] * x + self.x0_mix[1] * x0
        a, weights, v = self.attn(self.ln_1(x), cache, need_weights, rotary, v1)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, weights, v


@dataclass
class GPTOutput:
    logits: torch.Tensor
    """(B, T, vocab) or (B, 1, vocab) when only the last position was asked for."""
    loss: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None
    """One (B, nh, T, S) tensor per layer when requested."""


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        # built in GPT-2's order, so that a seed gives a classic model the same weights as ever
        parts: dict[str, nn.Module] = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.position == "learned":
            parts["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        parts["drop"] = nn.Dropout(config.dropout)
        parts["h"] = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        parts["ln_f"] = make_norm(config)
        self.transformer = nn.ModuleDict(parts)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            # the same matrix reads tokens in and writes them out (Press & Wolf, 2017)
            self.transformer.wte.weight = self.lm_head.weight
        if config.position == "rotary":
            # tables for every position the model can see; buffers so .to(device) moves them, not
            # saved in checkpoints because they follow from the config
            cos, sin = rotary_tables(config.n_embd // config.n_head, config.block_size, config.rope_base)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if not name.endswith("c_proj.weight"):
                continue
            if config.zero_init:
                # each block starts as the identity and grows only what the loss asks for
                torch.nn.init.zeros_(p)
            else:
                # GPT-2 scales the residual projections by 1/sqrt(2 * n_layer) so the stream's
                # variance does not grow with depth
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if config.zero_init and not config.tie_weights:
            torch.nn.init.zeros_(self.lm_head.weight)  # first predictions: uniform, loss ln(vocab)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # ---------------------------------------------------------------------------------------------
    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, shared ones counted once; position embeddings left out by default (as GPT-2 reports)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward), PaLM appendix B: 6N + 12 L H Q T."""
        cfg = self.config
        T = seq_len or cfg.block_size
        N = self.num_params()
        if not cfg.tie_weights:  # an untied embedding is a table lookup, not a matmul
            N -= self.transformer.wte.weight.numel()
        return 6 * N + 12 * cfg.n_layer * cfg.n_head * (cfg.n_embd // cfg.n_head) * T

    def new_kv_cache(self, batch_size: int = 1, capacity: int | None = None) -> KVCache:
        """Empty cache buffers on the model's device and dtype for up to ``capacity`` positions."""
        cfg = self.config
        cap = min(capacity or cfg.block_size, cfg.block_size)
        p = self.lm_head.weight
        shape = (batch_size, cfg.n_head, cap, cfg.n_embd // cfg.n_head)
        return KVCache(
            k=[torch.zeros(shape, device=p.device, dtype=p.dtype) for _ in range(cfg.n_layer)],
            v=[torch.zeros(shape, device=p.device, dtype=p.dtype) for _ in range(cfg.n_layer)],
        )

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        kv_cache: KVCache | None = None,
        return_attention: bool = False,
        last_only: bool = False,
    ) -> GPTOutput:
        """Run the model on token ids ``idx`` (B, T).

        With ``targets`` (B, T) the mean cross-entropy is returned as ``loss`` (ids < 0 ignored).
        With ``kv_cache`` the tokens continue the cached positions and the cache advances by T.
        ``last_only`` computes logits for the final position alone (what sampling needs).
        """
        B, T = idx.size()
        past = kv_cache.pos if kv_cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds the context of {self.config.block_size}")
        if kv_cache is not None and past + T > kv_cache.capacity:
            raise ValueError(f"KV cache holds {kv_cache.capacity} positions, {past + T} needed")
        x = self.transformer.wte(idx)  # (B, T, C)
        rotary = None
        if self.config.position == "learned":
            pos = torch.arange(past, past + T, dtype=torch.long, device=idx.device)  # (T,)
            x = x + self.transformer.wpe(pos)
        else:
            rotary = (self.rope_cos[past : past + T], self.rope_sin[past : past + T])  # (T, hs/2) each
        if self.config.norm == "rmsnorm":
            x = rms_norm(x)  # the embedding enters the stream at unit scale
        x = x0 = self.transformer.drop(x)
        attentions: list[torch.Tensor] | None = [] if return_attention else None
        v1 = None  # the first layer's attention values, for value_residual
        for i, block in enumerate(self.transformer.h):
            cache = (kv_cache.k[i], kv_cache.v[i], past) if kv_cache is not None else None
            x, w, v = block(x, cache, return_attention, rotary, x0, v1)
            if i == 0 and self.config.value_residual:
                v1 = v
            if attentions is not None:
                attentions.append(w)
        if kv_cache is not None:
            kv_cache.pos = past + T
        x = self.transformer.ln_f(x)

        if targets is not None:
            logits = self.head(x)  # (B, T, vocab)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
            return GPTOutput(logits, loss, attentions)
        if last_only:
            x = x[:, [-1], :]  # (B, 1, C)
        return GPTOutput(self.head(x), None, attentions)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from the final normalised stream, soft-capped when the config asks for it."""
        logits = self.lm_head(x)
        cap = self.config.logit_softcap
        if cap:
            logits = cap * torch.tanh(logits.float() / cap)
        return logits

    def hidden_matrices(self) -> list[nn.Parameter]:
        """The blocks' 2-D weights: what Muon orthogonalises (embeddings and head stay with AdamW)."""
        return [p for p in self.transformer.h.parameters() if p.dim() == 2 and p.requires_grad]

    def optimizer_groups(self, weight_decay: float, exclude: list[nn.Parameter] = ()) -> list[dict]:
        """AdamW groups: decay matrices of Linear layers; leave norms, biases and embeddings alone.

        Parameters in ``exclude`` (those another optimizer owns) are left out."""
        decay, no_decay = [], []
        seen: set[int] = {id(p) for p in exclude}
        embeddings = {id(self.transformer.wte.weight)}
        if "wpe" in self.transformer:
            embeddings.add(id(self.transformer.wpe.weight))
        for p in self.parameters():
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            if p.dim() >= 2 and id(p) not in embeddings:
                decay.append(p)
            else:
                no_decay.append(p)
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
