"""Import a run's starting point from a transformers folder of GPT-2's architecture.

GPT-2 is this project's classic GPT (export.py writes the reverse mapping): the same tensor names,
with GPT-2's ``Conv1D`` matrices stored (in, out) where our ``Linear`` layers store (out, in), and
biases everywhere (``bias=True``). Its tanh-approximated GELU (``gelu_new``) is our ``gelu_tanh``.

The folder is read, not run: ``config.json`` is parsed as JSON, the weights come from safetensors
only (a folder with only pickle weights, ``pytorch_model.bin``, is refused: unpickling runs code),
and ``transformers`` is not needed. The tokenizer maps when it is GPT-2's own vocabulary (the run
gets the ``gpt2`` kind, served by tiktoken) or a byte-level BPE ``tokenizer.json`` whose ids follow
its merges (saved as the run's ``bpe`` tokenizer); anything else is refused in one sentence.

``--hf`` also takes a hub id (``openai-community/gpt2``), told from a folder as the explorer's
``--hf`` tells them (hf.py): a folder that exists is a folder, a path-like name that is not one is
refused, anything else is an id. The id's ``config.json`` is fetched first, so an architecture that
does not map or a model too large for the machine's memory is refused before any weight downloads;
then ``huggingface_hub.snapshot_download`` fetches the safetensors weights and the tokenizer files
only (never pickle weights) into the Hugging Face cache, which serves it offline afterwards.

The run gets a resume point at step 0 holding the imported weights and no optimizer or RNG state:
the trainer starts from it as from a fresh run (fresh optimizer moments, its own seeding, the step-0
evaluation), so training fine-tunes the model on the run's text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import hub, runs
from .config import EOT, DataConfig, ModelConfig, RunConfig, TinyGPTError, TokenizerConfig
from .pieces import piece_to_bytes
from .tokenizer import BPETokenizer, Tokenizer, gpt2_tokenizer

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
FINETUNE_LR = 3e-4
"""AdamW's peak rate for a fine-tune (nanoGPT fine-tunes GPT-2 at 3e-5 to 1e-4; tiny models take more)."""
HINT_ARCH = "import a GPT-2-shaped model (model_type gpt2), or open this one in the explorer with --hf."
HUB_FILES = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer.json", "vocab.json",
             "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
"""What a hub import downloads: the config, safetensors weights and tokenizer files, nothing else."""
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def _read_config(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise TinyGPTError(f"{folder} is not a folder.", "pass a local folder with config.json, "
                           "model.safetensors and the tokenizer (download a hub model first).")
    path = folder / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise TinyGPTError(f"{folder} has no readable config.json ({type(e).__name__}).",
                           "the folder needs the config.json that transformers writes.") from None
    if not isinstance(data, dict):
        raise TinyGPTError(f"{path} is not a JSON object.", "the folder needs a transformers config.json.")
    return data


def model_config_from_hf(cfg: dict[str, Any], block_size: int | None = None) -> ModelConfig:
    """Our classic ModelConfig for a GPT-2 config, or one sentence naming what does not map."""
    kind = cfg.get("model_type")
    if kind != "gpt2":
        raise TinyGPTError(f"The folder holds a {kind or 'unnamed'} model; only GPT-2's architecture maps onto "
                           "this project's GPT.", HINT_ARCH)
    bad = []
    act = cfg.get("activation_function", "gelu_new")
    if act not in _ACTIVATIONS:
        bad.append(f"the {act} activation")
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    if not isinstance(eps, (int, float)) or abs(eps - 1e-5) > 1e-12:
        bad.append(f"layer_norm_epsilon {eps} (ours is 1e-5)")
    n_embd = cfg.get("n_embd", 768)
    if cfg.get("n_inner") not in (None, 4 * n_embd if isinstance(n_embd, int) else None):
        bad.append(f"an MLP of width {cfg.get('n_inner')} (ours is 4 × n_embd)")
    if not cfg.get("scale_attn_weights", True):
        bad.append("unscaled attention (scale_attn_weights=false)")
    if cfg.get("scale_attn_by_inverse_layer_idx"):
        bad.append("attention scaled by layer (scale_attn_by_inverse_layer_idx)")
    if cfg.get("add_cross_attention"):
        bad.append("cross-attention")
    if bad:
        raise TinyGPTError(f"The GPT-2 model has {', '.join(bad)}, which this project's GPT does not compute.",
                           HINT_ARCH)
    positions = cfg.get("n_positions", 1024)
    try:
        m = ModelConfig(n_layer=cfg.get("n_layer", 12), n_head=cfg.get("n_head", 12), n_embd=n_embd,
                        block_size=positions, vocab_size=cfg.get("vocab_size", 50257), dropout=0.0, bias=True,
                        tie_weights=bool(cfg.get("tie_word_embeddings", True)), activation=_ACTIVATIONS[act])
    except TinyGPTError as e:
        raise TinyGPTError(f"The folder's GPT-2 config does not fit: {e.message}", HINT_ARCH) from None
    if block_size is not None:
        if not 1 <= block_size <= positions:
            raise TinyGPTError(f"A context of {block_size} does not fit the model's {positions} positions.",
                               f"pass --block-size between 1 and {positions}.")
        m.block_size = block_size
    return m


def read_weights(folder: Path) -> dict[str, Any]:
    """Every tensor of the folder's safetensors weights (one file or shards), as float32 torch tensors."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickled = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        if pickled:
            raise TinyGPTError(f"{folder} has its weights only as pickle files ({pickled[0]}), which this "
                               "project never opens: unpickling can run code.",
                               "convert them to safetensors with transformers (save_pretrained) first.")
        raise TinyGPTError(f"{folder} has no model.safetensors.", "save the model with transformers' "
                           "save_pretrained, which writes safetensors.")
    tensors: dict[str, Any] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt", device="cpu") as fh:
                for k in fh.keys():
                    tensors[k] = fh.get_tensor(k).float()
        except Exception as e:  # safetensors raises its own error types for bad headers and sizes
            raise TinyGPTError(f"{f} is corrupt or truncated ({type(e).__name__}).", "download it again.") from None
    return tensors


def our_state_dict(hf: dict[str, Any], m: ModelConfig) -> dict[str, Any]:
    """GPT-2's tensors under our names and layouts (the reverse of export.gpt2_state_dict)."""
    out: dict[str, Any] = {}
    for k, v in hf.items():
        if k.endswith(("attn.bias", "attn.masked_bias")) and v.dim() > 1:
            continue  # the causal mask as a buffer, in older checkpoints
        name = k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k  # gpt2's own file
        out[name] = v.t().contiguous() if name.endswith(_CONV1D) else v
    if "transformer.wpe.weight" in out:
        out["transformer.wpe.weight"] = out["transformer.wpe.weight"][: m.block_size].contiguous()
    if m.tie_weights:
        out.pop("lm_head.weight", None)
    return out


# --------------------------------------------------------------------------------------------------
# the tokenizer


def _vocab(folder: Path) -> tuple[dict[str, int], dict[str, Any] | None]:
    """The folder's token → id table and its tokenizer.json (None when it has only vocab.json)."""
    tj = folder / "tokenizer.json"
    try:
        if tj.is_file():
            data = json.loads(tj.read_text(encoding="utf-8"))
            vocab = dict(data["model"]["vocab"])
            for t in data.get("added_tokens") or []:
                vocab[t["content"]] = int(t["id"])
            return vocab, data
        vj = folder / "vocab.json"
        if vj.is_file():
            return dict(json.loads(vj.read_text(encoding="utf-8"))), None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise TinyGPTError(f"The tokenizer of {folder} cannot be read ({type(e).__name__}).",
                           "the folder needs the tokenizer.json that transformers writes.") from None
    raise TinyGPTError(f"{folder} has no tokenizer (tokenizer.json or vocab.json).",
                       "save the tokenizer beside the model with transformers' save_pretrained.")


def _is_gpt2_vocab(vocab: dict[str, int]) -> bool:
    if len(vocab) != 50257 or vocab.get(EOT) != 50256:
        return False
    from .tokenizer import _gpt2_base

    ranks = _gpt2_base()._mergeable_ranks
    try:
        return all(ranks.get(piece_to_bytes(p)) == i for p, i in vocab.items() if p != EOT)
    except (KeyError, ValueError):
        return False


def _merges_follow_ids(data: dict[str, Any], vocab: dict[str, int]) -> bool:
    """Whether ranking tokens by id merges as the file's merge list does (what tiktoken serves).

    tiktoken merges the adjacent pair whose joined token has the lowest rank (id); the BPE model the
    merges pairs in list order. They agree when each merge's result has a larger id than the one before
    and every token of more than one byte is a merge's result."""
    merges = data["model"].get("merges") or []
    last = -1
    results = set()
    for m in merges:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        joined = vocab.get(a + b)
        if joined is None or joined <= last:
            return False
        last = joined
        results.add(a + b)
    specials = {t["content"] for t in data.get("added_tokens") or []}
    return all(p in results or p in specials or len(piece_to_bytes(p)) == 1 for p in vocab)


def tokenizer_from_folder(folder: Path, vocab_size: int) -> tuple[Tokenizer, str]:
    """The folder's tokenizer as one of ours (``gpt2`` or ``bpe``), or one sentence saying why not."""
    vocab, data = _vocab(folder)
    hint = ("the tokenizer must be GPT-2's own or a byte-level BPE with <|endoftext|> (as GPT-2's); "
            "open other models in the explorer with --hf.")
    if _is_gpt2_vocab(vocab):
        tok: Tokenizer = gpt2_tokenizer()
        kind = "gpt2"
    elif data is None:
        raise TinyGPTError(f"The tokenizer of {folder} is not GPT-2's and has no tokenizer.json.", hint)
    else:
        if EOT not in vocab:
            raise TinyGPTError(f"The tokenizer of {folder} has no {EOT} token.", hint)
        tok = BPETokenizer(json.dumps(data))  # refuses what is not byte-level BPE without a prefix space
        try:
            follows = _merges_follow_ids(data, vocab)
        except (KeyError, TypeError, ValueError):
            follows = False
        if not follows:
            raise TinyGPTError(f"The BPE tokenizer of {folder} numbers its tokens in another order than it "
                               "merges them, so this project's encoder would give other ids.", hint)
        kind = "bpe"
    if tok.vocab_size != vocab_size:
        raise TinyGPTError(f"The model has {vocab_size} token ids but its tokenizer {tok.vocab_size}.",
                           "this project needs one id per token of the tokenizer; pad-free models import.")
    return tok, kind


# --------------------------------------------------------------------------------------------------
# a folder or a hub id


def resolve_folder(source: Path | str, *, memory: int | None = None) -> tuple[Path, str]:
    """The folder to import from and how to name it: a local folder as it is, or a hub id's snapshot.

    A hub id's config is fetched first and checked (architecture, memory) before the weights are."""
    src = str(source).strip()
    local = Path(src).expanduser()
    if src and local.is_dir():
        return local, str(local)
    if not src or src.startswith((".", "/", "~")) or local.exists() or not _HUB_ID.match(src):
        raise TinyGPTError(f"{src or 'That'} is not a folder.", "pass a local folder with config.json, "
                           "model.safetensors and the tokenizer, or a hub id such as openai-community/gpt2.")
    cached_only = hub.local_only()  # asked once for both downloads
    cfg = _read_config(_download(src, ["config.json"], cached_only))
    model_config_from_hf(cfg)  # an architecture that does not map, or a model too large: refused before
    check_memory(cfg, None, src, memory)  # the weights download
    folder = _download(src, HUB_FILES, cached_only)
    if not any(folder.glob("*.safetensors")):
        raise TinyGPTError(f"{src} has no safetensors weights on the Hugging Face hub, and this project never "
                           "opens pickle weights: unpickling can run code.",
                           "pick a model that publishes model.safetensors, or convert it with transformers "
                           "(save_pretrained) and import that folder.")
    return folder, src


def _download(repo_id: str, patterns: list[str], cached_only: bool) -> Path:
    """``huggingface_hub.snapshot_download`` of ``patterns`` (from the local cache alone with
    ``cached_only``: offline, the download would retry for twenty-odd seconds first), or one sentence."""
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError as e:
        raise TinyGPTError("Importing a model from the Hugging Face hub needs the huggingface_hub library.",
                           'install the extra: pip install "tinygpt-tui[hf]" (or pass a local folder).') from e
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=patterns,
                                                      local_files_only=cached_only))
    except errors.RepositoryNotFoundError:  # GatedRepoError too
        raise TinyGPTError(f"There is no model '{repo_id}' on the Hugging Face hub that this machine may read "
                           "(a wrong id, or a private or gated one).",
                           "check the id on huggingface.co (e.g. openai-community/gpt2), log in for a gated "
                           "model, or pass a local folder.") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, ConnectionError):
        raise TinyGPTError(f"Cannot download {repo_id}: the Hugging Face hub cannot be reached (offline) and the "
                           "model is not in the local cache.",
                           "connect once to download it (it is cached for offline use after), or pass a local "
                           "folder.") from None
    except errors.HFValidationError:
        raise TinyGPTError(f"'{repo_id}' is not a Hugging Face hub id.",
                           "write it as owner/name (e.g. openai-community/gpt2), or pass a local folder.") from None
    except errors.HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        raise TinyGPTError(f"The Hugging Face hub refused to serve {repo_id}"
                           + (f" (HTTP {status})." if status else "."),
                           "try again later, or pass a local folder.") from None
    except OSError as e:
        raise TinyGPTError(f"Cannot store {repo_id} in the Hugging Face cache: {e.strerror or e}.",
                           "free some disk space or set HF_HOME to a folder you can write to.") from None


def check_memory(cfg: dict[str, Any], folder: Path | None, source: str, memory: int | None = None) -> None:
    """Refuse a model whose import would not fit in memory (``memory``, default what the machine has
    free, less a quarter), before any weight is read: the float32 weights are held twice (as read, and
    in the model built from them)."""
    from types import SimpleNamespace

    from .hf import _gib, available_memory, estimate_bytes, safetensors_bytes

    size = safetensors_bytes(folder) if folder is not None else None
    if not size:
        try:
            size = estimate_bytes(SimpleNamespace(**cfg))
        except (TinyGPTError, TypeError, ValueError):
            return  # the config's own check words what is missing
    need = 2 * size
    budget = int((memory if memory is not None else available_memory()) * 0.75)
    if need > budget:
        raise TinyGPTError(f"Importing {source} needs about {_gib(need)} of memory (its float32 weights as read "
                           f"and as a model), more than the {_gib(budget)} this machine can give it.",
                           "pick a smaller model.")


# --------------------------------------------------------------------------------------------------
# the run


def import_run(models: Path, folder: Path | str, name: str, *, source: str | None = None, preset: str = "tiny",
               block_size: int | None = None, lr: float | None = None, memory: int | None = None) -> RunConfig:
    """Create run ``name`` whose shape, tokenizer and starting weights come from ``folder`` (a local
    folder or a hub id, see :func:`resolve_folder`).

    Training settings (batch, budget, schedule) come from ``preset``, with AdamW at a fine-tuning rate
    (``lr``, default :data:`FINETUNE_LR`); the data from ``source`` (default the preset's). Nothing is written unless all of it
    maps."""
    from .checkpoint import load_weights_into, save_state, save_weights, weights_state_dict
    from .model import GPT
    from .presets import preset_config

    d = runs.run_dir(models, name)
    if runs.run_exists(d):
        raise TinyGPTError(f"A run named '{name}' already exists.", "pick another --run name.")
    folder, origin = resolve_folder(folder, memory=memory)
    hf_cfg = _read_config(folder)
    m = model_config_from_hf(hf_cfg, block_size)
    check_memory(hf_cfg, folder, origin, memory)
    tok, kind = tokenizer_from_folder(folder, m.vocab_size)
    tensors = our_state_dict(read_weights(folder), m)
    model = GPT(m)
    load_weights_into(model, tensors, folder / "model.safetensors")

    cfg = preset_config(preset, name)
    cfg.model = m
    cfg.tokenizer = TokenizerConfig(kind=kind, vocab_size=tok.vocab_size) if kind == "bpe" else TokenizerConfig(kind=kind)
    if source is not None:
        cfg.data = DataConfig(source=source, seed=cfg.data.seed)
    # AdamW at a fine-tuning rate: Muon's fixed-size orthogonal updates (the modern presets') are made
    # for training from scratch and would move a trained matrix far from where it was
    cfg.train.optimizer = "adamw"
    cfg.train.lr = lr if lr is not None else FINETUNE_LR
    cfg.train.min_lr = cfg.train.lr / 10
    RunConfig.from_dict(cfg.to_dict())  # validate the whole before anything is written

    runs.create_run(models, cfg)
    try:
        tok.save(d / runs.TOKENIZER)
        weights = {f"model.{k}": v for k, v in weights_state_dict(model).items()}
        # a start point, not a resume point: no optimizer moments, no RNG state, no batch settings, so
        # the trainer begins as a fresh run would (and the batch size may still change before then)
        save_state(d, weights, {"step": 0, "elapsed": 0.0, "start_point": True, "imported_from": origin,
                                "vocab_size": tok.vocab_size, "tokenizer_fingerprint": tok.fingerprint(),
                                "model": dict(vars(m))})
        save_weights(d / runs.WEIGHTS, model, step=0)
    except BaseException:
        import shutil

        shutil.rmtree(d, ignore_errors=True)  # a half-imported run would be refused at training anyway
        raise
    return cfg
