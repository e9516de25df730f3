"""Export a run as a folder that ``transformers`` loads (``AutoModelForCausalLM``/``AutoTokenizer``).

The classic architecture is GPT-2 as nanoGPT writes it, so it becomes a ``GPT2LMHeadModel`` with the
same tensor names. Two things differ: GPT-2's attention and MLP layers are ``Conv1D`` (weights stored
(in, out)) where ours are ``Linear`` (out, in), so those matrices are transposed; and GPT-2 always has
biases, so a run trained without them gets zero ones. The GELU is the exact (erf) one, LayerNorm's eps
is 1e-5 and dropout is off: the exported model computes our logits.

The modern architecture's options have no exact equivalent in a standard architecture (Llama has
weighted RMSNorm and a gated SiLU MLP, but no QK-norm, ReLU², logit soft-cap or normalised
embeddings), so such a run is refused with a sentence naming the options, not exported approximately.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .config import EOT, ModelConfig, RunConfig, TinyGPTError
from .hf import require_transformers
from .tokenizer import Tokenizer

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def unexportable_options(m: ModelConfig) -> list[str]:
    """The model options a GPT-2 export cannot reproduce exactly, in words (empty: it can)."""
    out = []
    if m.position != "learned":
        out.append(f"{m.position} positions (position={m.position})")
    if m.norm != "layernorm":
        out.append(f"weightless {m.norm} (norm={m.norm})")
    if m.qk_norm:
        out.append("QK-norm (qk_norm=true)")
    if m.activation not in ("gelu", "gelu_tanh"):
        out.append(f"the {m.activation} activation (activation={m.activation})")
    if m.logit_softcap:
        out.append(f"the logit soft-cap (logit_softcap={m.logit_softcap:g})")
    if m.x0_mix:
        out.append("the embedding shortcut (x0_mix=true)")
    if m.value_residual:
        out.append("value residuals (value_residual=true)")
    return out


def check_exportable(cfg: RunConfig) -> None:
    bad = unexportable_options(cfg.model)
    if bad:
        raise TinyGPTError(
            f"Run '{cfg.name}' cannot be exported exactly: {', '.join(bad)} "
            f"{'has' if len(bad) == 1 else 'have'} no equivalent in GPT-2, and no standard transformers "
            "architecture reproduces them (Llama has no QK-norm, ReLU², logit soft-cap or normalised "
            "embeddings).",
            "export a run of the classic architecture (the default recipe), or explore this one here.")


def gpt2_state_dict(model: Any) -> dict[str, Any]:
    """Our classic GPT's tensors under GPT-2's names and layouts (Conv1D transposed, zero biases)."""
    import torch

    cfg = model.config
    sd = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()
          if not k.startswith("rope_")}
    out: dict[str, Any] = {}
    for k, v in sd.items():
        out[k] = v.t().contiguous() if k.endswith(_CONV1D) else v
    if not cfg.bias:
        for k in list(out):
            if k.endswith(".weight") and (k.endswith(_CONV1D) or ".ln_" in k or k.startswith("transformer.ln_f")):
                width = out[k].shape[-1] if k.endswith(_CONV1D) else out[k].shape[0]
                out[k[: -len("weight")] + "bias"] = torch.zeros(width)
    if cfg.tie_weights:
        out.pop("lm_head.weight", None)
    return out


def gpt2_config(m: ModelConfig, tok: Tokenizer) -> Any:
    transformers = require_transformers()
    return transformers.GPT2Config(
        vocab_size=m.vocab_size, n_positions=m.block_size, n_embd=m.n_embd, n_layer=m.n_layer, n_head=m.n_head,
        n_inner=4 * m.n_embd,
        activation_function="gelu_new" if m.activation == "gelu_tanh" else "gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=1e-5, tie_word_embeddings=m.tie_weights, bos_token_id=tok.eot_id,
        eos_token_id=tok.eot_id, architectures=["GPT2LMHeadModel"],
    )


def hf_tokenizer(tok: Tokenizer) -> Any:
    """The run's tokenizer as a ``transformers`` fast tokenizer that encodes text to the same ids."""
    transformers = require_transformers()
    from tokenizers import Tokenizer as TkTokenizer
    from tokenizers import decoders
    from tokenizers.models import BPE

    if tok.kind == "bpe":
        backend = TkTokenizer.from_str(tok.to_json())  # trained here with HF tokenizers: already its format
    elif tok.kind == "char":
        # one token per character: a BPE with no merges splits text into exactly those characters
        specials = set(tok.special_tokens)
        vocab = {tok.piece(i) if tok.is_special(i) else tok.token_bytes(i).decode("utf-8"): i
                 for i in range(tok.vocab_size)}
        backend = TkTokenizer(BPE(vocab={k: v for k, v in vocab.items() if k not in specials}, merges=[]))
        backend.add_special_tokens(sorted(specials, key=lambda s: tok.special_tokens[s]))
        backend.decoder = decoders.Fuse()
    elif tok.kind == "gpt2":
        backend = _gpt2_backend(tok)
    else:
        raise TinyGPTError(f"A {tok.kind} tokenizer cannot be exported.",
                           "export a run whose tokenizer is bpe, char or gpt2.")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOT, bos_token=EOT,
                                                unk_token=None, model_max_length=None)


def _gpt2_backend(tok: Tokenizer) -> Any:
    """GPT-2's tiktoken encoding (and the run's extra special tokens) as a ``tokenizers`` BPE.

    tiktoken keeps ranks, not merges: the merge that makes a token is found by merging its bytes with
    the lower-ranked tokens only, as tiktoken itself would, until two parts are left."""
    from tokenizers import Tokenizer as TkTokenizer
    from tokenizers import decoders, pre_tokenizers
    from tokenizers.models import BPE

    from .pieces import bytes_to_piece

    ranks: dict[bytes, int] = tok._enc._mergeable_ranks  # type: ignore[attr-defined]
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = [token[i:i + 1] for i in range(len(token))]
        while len(parts) > 2:
            # only tokens ranked before this one exist when it is made
            pairs = [(r, i) for i in range(len(parts) - 1)
                     if (r := ranks.get(parts[i] + parts[i + 1])) is not None and r < rank]
            if not pairs:
                raise TinyGPTError("The GPT-2 vocabulary has a token no earlier merges build.",
                                   "this is a bug in the export; please report it.")
            i = min(pairs)[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        merges.append((bytes_to_piece(parts[0]), bytes_to_piece(parts[1])))
    vocab = {bytes_to_piece(b): r for b, r in ranks.items()}
    backend = TkTokenizer(BPE(vocab=vocab, merges=merges, fuse_unk=False))
    # GPT-2's split pattern is the ByteLevel pre-tokenizer's own (use_regex), without a prefix space
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(sorted(tok.special_tokens, key=lambda s: tok.special_tokens[s]))
    return backend


def model_card(cfg: RunConfig, tok: Tokenizer, params: int, state: dict[str, Any] | None) -> str:
    m, d = cfg.model, cfg.data
    state = state or {}
    elapsed = state.get("elapsed")
    bpb = state.get("best_val_bpb")
    data = d.dataset or d.source
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-generation", "tags: [tinygpt-tui, gpt2]", "---",
        "", f"# {cfg.name}", "",
        f"A tiny GPT-2-shaped language model trained with tinygpt-tui (preset `{cfg.preset}`).", "",
        "| | |", "|---|---|",
        f"| data | {data}" + (f" (first {d.max_bytes:,} bytes)" if d.max_bytes else "") + " |",
        f"| tokenizer | {tok.kind}, {tok.vocab_size:,} tokens, end of text `{EOT}` = id {tok.eot_id} |",
        f"| size | {params:,} parameters; {m.n_layer} layers, {m.n_head} heads, width {m.n_embd}, "
        f"context {m.block_size} |",
        f"| training | {state.get('step', '?')} steps" + (f", {elapsed:.0f} s" if elapsed is not None else "") + " |",
        f"| validation bits per byte | {bpb:.4f} |" if bpb is not None else "| validation bits per byte | not measured |",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'tok = AutoTokenizer.from_pretrained("PATH")',
        'model = AutoModelForCausalLM.from_pretrained("PATH")',
        "```", "",
    ]
    return "\n".join(lines)


def export_run(run: Path, out: Path, which: str = "best", force: bool = False) -> Path:
    """Write run folder ``run`` as a transformers folder ``out``; returns ``out``."""
    transformers = require_transformers()
    from .checkpoint import load_model
    from .runs import load_run_config, state_summary

    cfg = load_run_config(run)
    check_exportable(cfg)  # before any weight is read
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise TinyGPTError(f"{out} already exists and is not empty.", "pick a new folder, or pass --force.")
    model, tok, cfg = load_model(run, which=which)
    hf_tok = hf_tokenizer(tok)
    hf_model = transformers.GPT2LMHeadModel(gpt2_config(cfg.model, tok))
    missing, unexpected = hf_model.load_state_dict(gpt2_state_dict(model), strict=False)
    missing = [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias", "lm_head.weight"))]
    if missing or unexpected:
        raise TinyGPTError(f"The run's weights do not map onto GPT-2 ({(missing or unexpected)[0]}).",
                           "this is a bug in the export; please report it.")
    if cfg.model.tie_weights:
        hf_model.tie_weights()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    from transformers.utils import logging as hf_logging

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # our command says what it wrote; no shard progress bar of theirs
    try:
        hf_model.save_pretrained(tmp, safe_serialization=True)
        hf_tok.save_pretrained(tmp)
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    (tmp / "README.md").write_text(model_card(cfg, tok, model.num_params(False), state_summary(run)), encoding="utf-8")
    (tmp / "tinygpt_run.json").write_text(json.dumps(cfg.to_dict(), indent=1), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
