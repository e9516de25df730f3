"""Open a Hugging Face causal language model so that the explorer's engine can read it.

Two adapters put a ``transformers`` model behind the surfaces this project's own parts offer, so the
one sampler (``generate``), scoring and the attention maps run on it unchanged:

* :class:`HFModel` has :class:`~tinygpt_tui.model.GPT`'s ``forward(idx, targets, kv_cache=,
  return_attention=, last_only=)`` returning a ``GPTOutput``, ``new_kv_cache`` (the model's own
  ``past_key_values`` behind it) and ``config.block_size``. It is loaded in float32 with eager
  attention, so the attention maps exist and the numbers are those ``transformers`` computes.
* :class:`HFTokenizer` is a :class:`~tinygpt_tui.tokenizer.Tokenizer`: every id has its real bytes,
  whether the vocabulary is GPT-2-style byte-level (``'Ġsoft'``), SentencePiece-style (``'▁soft'``)
  or a byte-fallback token (``'<0xE2>'``), so hex, boundaries and the UTF-8 text stream are right.

``transformers`` is an optional extra (``pip install "tinygpt-tui[hf]"``); it is imported only here,
when a model is opened. No remote code is ever run (``trust_remote_code=False``).
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

from . import hub
from .config import TinyGPTError
from .model import GPTOutput
from .tokenizer import Tokenizer, piece_to_bytes

HINT_INSTALL = 'install the extra: pip install "tinygpt-tui[hf]" (or pip install transformers).'
MAX_CONTEXT = 2048
"""The longest window the explorer gives a hub model (some claim 128k positions; a CPU does not)."""

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def require_transformers() -> Any:
    """The ``transformers`` module, or one sentence saying how to get it."""
    try:
        import transformers
    except ImportError as e:
        raise TinyGPTError("Opening or exporting a Hugging Face model needs the transformers library.",
                           HINT_INSTALL) from e
    return transformers


# --------------------------------------------------------------------------------------------------
# The model adapter


@dataclass
class HFModelConfig:
    """What the engine reads of a model's config, filled from the Hugging Face one."""

    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int
    model_type: str = ""
    source: str = ""


@dataclass
class HFCache:
    """The model's ``past_key_values`` and how many positions they hold (the engine's ``KVCache`` surface)."""

    capacity: int
    past: Any = None
    pos: int = 0

    def reset(self) -> None:
        self.past, self.pos = None, 0


class HFModel(nn.Module):
    """A ``transformers`` causal LM behind ``GPT``'s forward/new_kv_cache/config surface."""

    def __init__(self, hf_model: nn.Module, block_size: int, source: str = ""):
        super().__init__()
        self.hf = hf_model
        c = hf_model.config
        n_embd = _first(c, "hidden_size", "n_embd", "d_model")
        self.config = HFModelConfig(
            block_size=block_size,
            n_layer=int(_first(c, "num_hidden_layers", "n_layer", "num_layers")),
            n_head=int(_first(c, "num_attention_heads", "n_head", "num_heads")),
            n_embd=int(n_embd),
            vocab_size=int(hf_model.get_output_embeddings().weight.shape[0]),
            model_type=str(getattr(c, "model_type", "")),
            source=source,
        )
        self.eval()  # an explorer's model: no dropout, ever (the engine restores train mode only if set)

    @property
    def lm_head(self) -> nn.Module:
        """The output layer (the sampler reads the device from its weight, as it does for GPT)."""
        return self.hf.get_output_embeddings()

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            pos = getattr(getattr(self.hf, "transformer", None), "wpe", None)
            if isinstance(pos, nn.Embedding):
                n -= pos.weight.numel()
        return n

    def new_kv_cache(self, batch_size: int = 1, capacity: int | None = None) -> HFCache:
        return HFCache(capacity=min(capacity or self.config.block_size, self.config.block_size))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        kv_cache: HFCache | None = None,
        return_attention: bool = False,
        last_only: bool = False,
    ) -> GPTOutput:
        B, T = idx.size()
        past = kv_cache.pos if kv_cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"sequence of {past + T} tokens exceeds the context of {self.config.block_size}")
        kwargs: dict[str, Any] = {"input_ids": idx, "return_dict": True, "output_attentions": return_attention}
        if kv_cache is not None:
            kwargs["use_cache"] = True
            if kv_cache.past is not None:
                kwargs[_cache_kwarg(self.hf)] = kv_cache.past
            # positions continue the cache's (GPT-2 and GPT-Neo need them said; Llama reads the cache)
            kwargs["position_ids"] = torch.arange(past, past + T, device=idx.device).unsqueeze(0).expand(B, T)
        else:
            kwargs["use_cache"] = False
        out = self.hf(**kwargs)
        if kv_cache is not None:
            kv_cache.past = out.past_key_values
            kv_cache.pos = past + T
        logits = out.logits  # (B, T, V)
        attentions = list(out.attentions) if return_attention and out.attentions is not None else None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-1)
            return GPTOutput(logits, loss, attentions)
        if last_only:
            logits = logits[:, -1:, :]
        return GPTOutput(logits, None, attentions)


def _cache_kwarg(hf_model: nn.Module) -> str:
    """``cache`` where this transformers release renamed ``past_key_values`` (5.x), else the old name."""
    import inspect

    params = inspect.signature(hf_model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _first(cfg: Any, *names: str) -> Any:
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None:
            return v
    raise TinyGPTError(f"The model's config has none of {', '.join(names)}.",
                       "open a decoder-only causal language model (GPT-2, GPT-Neo, Llama, ...).")


# --------------------------------------------------------------------------------------------------
# The tokenizer adapter


class HFTokenizer(Tokenizer):
    """A ``transformers`` tokenizer behind this project's Tokenizer interface (kind ``hf``)."""

    kind = "hf"

    def __init__(self, hf_tok: Any, vocab_size: int | None = None):
        self.hf = hf_tok
        n = max(len(hf_tok), int(vocab_size or 0))
        pieces = hf_tok.convert_ids_to_tokens(list(range(len(hf_tok))))
        style = token_style(hf_tok)
        self.style = style
        specials: dict[str, int] = {}
        for i, t in _special_tokens(hf_tok).items():
            if i < n:
                specials.setdefault(t, i)
        special_ids = set(specials.values())
        tokens: list[bytes] = []
        self._pieces: list[str] = []
        for i in range(n):
            p = pieces[i] if i < len(pieces) else None
            if p is None:  # ids the model has and the tokenizer never produces (vocabulary padding)
                tokens.append(b"")
                self._pieces.append(f"<unused {i}>")
                continue
            self._pieces.append(p)
            tokens.append(p.encode("utf-8") if i in special_ids else piece_bytes(p, style))
        self._tokens = tokens
        self.special_tokens = specials
        self._special_ids = {i: s for s, i in specials.items()}
        self.vocab_size = n
        eos = hf_tok.eos_token_id
        bos = hf_tok.bos_token_id
        self.eot_id = int(eos if eos is not None else bos if bos is not None else 0)
        # a tokenizer that starts every text with BOS (Llama) was trained on documents that start so:
        # the engine reads a prompt or a scored text as a fresh document from this id
        probe = hf_tok("a")["input_ids"]
        self.doc_start_id: int | None = int(bos) if bos is not None and probe and probe[0] == bos else None
        self._executor = None

    def _encode_array(self, text: str) -> np.ndarray:
        ids = self.hf(text, add_special_tokens=False)["input_ids"]
        return np.asarray(ids, dtype=np.uint32)

    def piece(self, token_id: int) -> str:
        """The tokenizer's own piece: ``'Ġsoft'``, ``'▁soft'``, ``'<0xE2>'``, ``'</s>'``."""
        return self._pieces[self._check_id(token_id)]

    def to_json(self) -> str:
        backend = getattr(self.hf, "backend_tokenizer", None)
        if backend is None:
            raise TinyGPTError("This Hugging Face tokenizer has no tokenizer.json form.", "save it with transformers.")
        return backend.to_str()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "style": self.style, "name": getattr(self.hf, "name_or_path", "")}


def _special_tokens(hf_tok: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    decoder = getattr(hf_tok, "added_tokens_decoder", {}) or {}
    for i, t in decoder.items():
        if getattr(t, "special", False) and str(t):
            out[int(i)] = str(t)
    for t, i in zip(hf_tok.all_special_tokens, hf_tok.all_special_ids, strict=False):
        if i is not None and t:
            out.setdefault(int(i), str(t))
    return out


def token_style(hf_tok: Any) -> str:
    """``byte-level`` (GPT-2's byte-to-unicode pieces), ``sentencepiece`` (``▁`` pieces) or ``other``."""
    backend = getattr(hf_tok, "backend_tokenizer", None)
    if backend is not None:
        try:
            data = json.loads(backend.to_str())
        except (ValueError, TypeError):
            data = {}
        text = json.dumps([data.get("decoder"), data.get("pre_tokenizer")])
        if '"ByteLevel"' in text:
            return "byte-level"
        if "\u2581" in text or '"Metaspace"' in text or '"ByteFallback"' in text:
            return "sentencepiece"
    if any("\u2581" in p for p in hf_tok.convert_ids_to_tokens(list(range(min(len(hf_tok), 2000))))):
        return "sentencepiece"
    return "other"


def piece_bytes(piece: str, style: str) -> bytes:
    """The bytes a (non-special) piece stands for."""
    m = _BYTE_TOKEN.match(piece)
    if m and style != "byte-level":
        return bytes([int(m.group(1), 16)])
    if style == "byte-level":
        try:
            return piece_to_bytes(piece)
        except (KeyError, ValueError):  # an added token written in plain text
            return piece.encode("utf-8")
    if style == "sentencepiece":
        return piece.replace("\u2581", " ").encode("utf-8")
    return piece.encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Opening


@dataclass
class HFInfo:
    """What was opened, for the faces to show."""

    source: str
    model_type: str
    params: int
    block_size: int
    tokenizer_style: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "model_type": self.model_type, "params": self.params,
                "block_size": self.block_size, "tokenizer_style": self.tokenizer_style, "notes": self.notes}


def safetensors_bytes(folder: Path) -> int | None:
    """Bytes of the tensors in a folder's safetensors files, read from their headers (None: no such files)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise TinyGPTError(f"{f.name} is not a safetensors file.", "re-download the model.")
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                raise TinyGPTError(f"{f.name} has an implausible header.", "re-download the model.")
            try:
                header = json.loads(fh.read(n))
            except ValueError as e:
                raise TinyGPTError(f"{f.name} has a broken header.", "re-download the model.") from e
        for name, t in header.items():
            if name == "__metadata__" or not isinstance(t, dict):
                continue
            # loaded in float32 whatever the file stores
            total += int(np.prod(t.get("shape", []), dtype=np.int64)) * 4
    return total


def estimate_bytes(cfg: Any) -> int:
    """Float32 bytes of a decoder-only model from its config (12·L·d² + vocab·d, a decoder's shape)."""
    d = int(_first(cfg, "hidden_size", "n_embd", "d_model"))
    layers = int(_first(cfg, "num_hidden_layers", "n_layer", "num_layers"))
    vocab = int(getattr(cfg, "vocab_size", 0) or 0)
    inner = getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d
    mult = 3 if getattr(cfg, "model_type", "") in ("llama", "mistral", "qwen2", "gemma") else 2
    per_layer = 4 * d * d + mult * d * int(inner)
    tied = getattr(cfg, "tie_word_embeddings", True)
    return 4 * (layers * per_layer + vocab * d * (1 if tied else 2))


def available_memory() -> int:
    """Bytes of memory free for a new model (MemAvailable), or a large number where it is unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def open_hf(source: str, device: str = "cpu", memory: int | None = None) -> tuple[HFModel, HFTokenizer, HFInfo]:
    """Open a causal LM from a local folder or a hub id (from the hub cache when offline).

    A model whose float32 weights would not fit in ``memory`` (default: what the machine has free,
    less a quarter for the work) is refused before any weight is read.
    """
    transformers = require_transformers()
    transformers.logging.set_verbosity_error()  # faces speak for themselves: no progress bars, no warnings
    transformers.logging.disable_progress_bar()
    src = str(source).strip()
    if not src:
        raise TinyGPTError("No Hugging Face model was named.", "pass a hub id such as gpt2, or a local folder.")
    local = Path(src).expanduser()
    is_local = local.is_dir()
    where = str(local) if is_local else src
    if not is_local and (src.startswith((".", "/", "~")) or Path(src).exists()):
        raise TinyGPTError(f"{src} is not a folder with a Hugging Face model.",
                           "pass a folder with config.json and the weights, or a hub id such as gpt2.")
    # offline, transformers would retry the hub for twenty-odd seconds before reading its cache
    cached_only = not is_local and hub.local_only()
    try:
        cfg = transformers.AutoConfig.from_pretrained(where, trust_remote_code=False, local_files_only=cached_only)
    except (OSError, ValueError, KeyError) as e:
        if is_local:
            raise TinyGPTError(f"{src} has no usable Hugging Face config ({_short(e)}).",
                               "the folder needs a config.json of a causal LM that transformers knows.") from e
        if cached_only:
            raise TinyGPTError(f"Could not open '{src}': the Hugging Face hub cannot be reached (or HF_HUB_OFFLINE "
                               "is set) and the model is not in the local cache.",
                               "connect once to download it (it is cached for offline use after), or pass a "
                               "local folder.") from e
        raise TinyGPTError(f"Could not open '{src}' from the Hugging Face hub: the id is wrong, or the hub "
                           "cannot be reached and the model is not in the local cache.",
                           "check the id, connect once to download it, or pass a local folder.") from e
    if getattr(cfg, "is_encoder_decoder", False):
        raise TinyGPTError(f"{src} is an encoder-decoder model, not a causal language model.",
                           "open a decoder-only model such as GPT-2, GPT-Neo or Llama.")
    size = (safetensors_bytes(local) if is_local else None) or estimate_bytes(cfg)
    budget = int((memory if memory is not None else available_memory()) * 0.75)
    if size > budget:
        raise TinyGPTError(f"{src} needs about {_gib(size)} of memory in float32, more than the {_gib(budget)} "
                           "this machine can give it.", "pick a smaller model.")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            where, config=cfg, dtype=torch.float32, attn_implementation="eager", trust_remote_code=False,
            local_files_only=cached_only)
        hf_tok = transformers.AutoTokenizer.from_pretrained(where, trust_remote_code=False,
                                                            local_files_only=cached_only)
    except (OSError, ValueError, KeyError, ImportError) as e:
        raise TinyGPTError(f"Could not load '{src}' with transformers ({_short(e)}).",
                           "check that it is a causal LM with its tokenizer, and that the hub is reachable "
                           "or the model cached.") from e
    model.to(device).eval()
    positions = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    block = int(positions or getattr(hf_tok, "model_max_length", MAX_CONTEXT) or MAX_CONTEXT)
    notes = []
    if block > MAX_CONTEXT:
        notes.append(f"context limited to {MAX_CONTEXT} of its {block} positions")
        block = MAX_CONTEXT
    wrapped = HFModel(model, block, source=src)
    tok = HFTokenizer(hf_tok, vocab_size=wrapped.config.vocab_size)
    info = HFInfo(source=src, model_type=wrapped.config.model_type, params=wrapped.num_params(False),
                  block_size=block, tokenizer_style=tok.style, notes=notes)
    return wrapped, tok, info


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:160]
