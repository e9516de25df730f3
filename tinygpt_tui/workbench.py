"""The facade every face uses: which runs exist and what they hold; load, tokenize, generate, score,
look at attention and the vocabulary; start, stop and attach to training.

The TUI, the CLI and the REPL talk to the core through one :class:`Workbench`, which holds the
:class:`~tinygpt_tui.workspace.Workspace` an entry point gave it. It imports nothing from Textual,
Rich or prompt-toolkit, and it imports torch only when a model is loaded, so a face can paint its
first frame before torch is in memory. Training runs in its own process (:mod:`supervise`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import runs
from .config import RunConfig, SamplingConfig, TinyGPTError
from .supervise import TrainingProcess
from .workbench_training import TrainingDesk
from .workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .attention import AttentionMaps
    from .branches import BranchTree
    from .cuts import SamplerCuts
    from .lens import LogitLens
    from .model import GPT
    from .records import ScoreResult, TokenRecord
    from .timelapse import TimeLapse
    from .tokenizer import Tokenizer


class Workbench(TrainingDesk):
    """One loaded run at a time (its model, tokenizer and config); plus the training
    (:class:`~tinygpt_tui.workbench_training.TrainingDesk`) and the runs, datasets and tables
    (:class:`~tinygpt_tui.workbench_runs.RunShelf`, under it) of one workspace."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.models_dir = workspace.models.resolve()
        self.data_dir = workspace.data.resolve()
        self.run_name: str | None = None
        self._model: GPT | None = None
        self._tokenizer: Tokenizer | None = None
        self._config: RunConfig | None = None
        self._which = "best"
        self._vocab_cache: dict[str, Any] = {}
        self.hf_info: Any = None
        self.training: dict[str, TrainingProcess] = {}

    # -- the loaded run ----------------------------------------------------------------------------
    def read_model(self, name: str, which: str = "best", device: str = "cpu") -> tuple[GPT, Tokenizer, RunConfig]:
        """A run's model, tokenizer and config, without making it the loaded run."""
        from .checkpoint import load_model

        return load_model(self.run_folder(name), which=which, device=device)

    def load(self, run: str, which: str = "best") -> RunConfig:
        """Load ``run``'s weights (``best`` falls back to ``latest``), tokenizer and config."""
        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}' in {self.models_dir}.",
                               "list runs with /load (no name) or create one with /new.")
        if not self.has_weights(run):
            raise TinyGPTError(f"Run '{run}' has no trained weights yet.", "train it first with /train.")
        model, tok, cfg = self.read_model(run, which=which)
        self._model, self._tokenizer, self._config = model, tok, cfg
        self.run_name, self._which = run, which
        self._vocab_cache = {}
        return cfg

    # -- a Hugging Face model in place of a run ----------------------------------------------------
    def read_hf(self, source: str, device: str = "cpu") -> tuple[Any, Tokenizer, RunConfig]:
        """A Hugging Face causal LM (hub id or folder) as model, tokenizer and a stand-in run config.

        The config names it ``hf:SOURCE``; its ``model`` section is the adapter's (layers, width,
        context, vocabulary) and its sampling section the defaults, so every face reads it as a run's.
        """
        from .hf import open_hf

        model, tok, info = open_hf(source, device=device)
        cfg = RunConfig(name="hf", preset="hf")
        cfg.name = f"hf:{source}"  # not a run on disk, so not held to run names
        cfg.model = model.config  # duck-typed: n_layer, n_head, n_embd, block_size, vocab_size
        cfg.tokenizer.kind = f"hf {info.tokenizer_style}"
        cfg.tokenizer.vocab_size = tok.vocab_size
        self.hf_info = info
        return model, tok, cfg

    def load_hf(self, source: str, device: str = "cpu") -> RunConfig:
        """Make a Hugging Face model the loaded one (``run_name`` is ``hf:SOURCE``)."""
        model, tok, cfg = self.read_hf(source, device=device)
        self._model, self._tokenizer, self._config = model, tok, cfg
        self.run_name, self._which = cfg.name, "best"
        self._vocab_cache = {}
        return cfg

    def export(self, run: str, out: Path, which: str = "best", force: bool = False) -> Path:
        """Write ``run`` as a folder transformers loads (see export.py); returns the folder."""
        from .export import export_run

        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}' in {self.models_dir}.",
                               "list runs with `tinygpt runs`.")
        return export_run(self.run_folder(run), Path(out), which=which, force=force)

    def import_hf(self, folder: Path | str, run: str, *, source: str | None = None, preset: str = "tiny",
                  block_size: int | None = None, lr: float | None = None) -> RunConfig:
        """Create ``run`` starting from a GPT-2-shaped transformers folder or hub id (see hf_import.py)."""
        from .hf_import import import_run

        return import_run(self.models_dir, folder, run, source=source, preset=preset,
                          block_size=block_size, lr=lr)

    def unload(self) -> None:
        self._model = self._tokenizer = self._config = None
        self.run_name = None
        self._vocab_cache = {}

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _need(self) -> None:
        if self._model is None:
            raise TinyGPTError("No model is loaded.", "pick a run on the runs screen or type /load RUN.")

    @property
    def model(self) -> GPT:
        self._need()
        assert self._model is not None
        return self._model

    @property
    def tokenizer(self) -> Tokenizer:
        self._need()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def config(self) -> RunConfig:
        self._need()
        assert self._config is not None
        return self._config

    def num_params(self) -> int:
        return self.model.num_params()

    # -- tokens ------------------------------------------------------------------------------------
    def breakdown(self, text: str) -> list[dict[str, Any]]:
        """The tokenization of ``text``: one dict(id, piece, hex, text) per token."""
        from .vocab import breakdown

        return breakdown(self.tokenizer, text)

    def shards_path(self) -> Path | None:
        """The shard folder the loaded run's tokenizer produced, when it exists."""
        if self.run_name is None:
            return None
        return self.run_shards(self.run_name, self.tokenizer)

    def vocab_stats(self) -> dict[str, Any]:
        """Statistics of the vocabulary (as ``tinygpt vocab``), with shard frequencies when present."""
        if "stats" not in self._vocab_cache:
            from .vocab import vocab_stats

            self._vocab_cache["stats"] = vocab_stats(self.tokenizer, self.shards_path())
        return self._vocab_cache["stats"]

    def token_frequencies(self) -> Any | None:
        """Counts of each id in the training shard (numpy array [vocab]) or None without shards."""
        if "freq" not in self._vocab_cache:
            counts = None
            path = self.shards_path()
            if path is not None:
                from .shards import open_shards
                from .vocab import count_tokens

                try:
                    shard_set = open_shards(path, self.tokenizer)
                    # in chunks: a bincount of the whole shard copies it as int64 (8 bytes a token)
                    counts = count_tokens(shard_set.train, self.tokenizer.vocab_size)
                except TinyGPTError:
                    counts = None
            self._vocab_cache["freq"] = counts
        return self._vocab_cache["freq"]

    def under_trained(self) -> Any:
        """The loaded model's under-trained measures (undertrained.py), computed once per loaded run."""
        if "under" not in self._vocab_cache:
            from .undertrained import under_trained

            self._vocab_cache["under"] = under_trained(self.model)
        return self._vocab_cache["under"]

    def vocab_rows(self) -> list[tuple[Any, ...]]:
        """One row per token: (id, piece, hex, byte length, frequency in the training shard or None,
        under-trained score, embedding distance ratio, head distance ratio or None when tied).

        The byte length counts the bytes the hex shows: a special token's bytes are the UTF-8 of its
        name (13 for ``<|endoftext|>``), as every face shows them. (Bits per byte counts a special as 1
        byte, ``Tokenizer.byte_lengths``; that is the metric's convention, never a length on screen.)"""
        tok = self.tokenizer
        freq = self.token_frequencies()
        under = self.under_trained()
        n = len(under.score)
        head = under.head_ratio
        return [(i, tok.piece(i), tok.hex(i), len(tok.token_bytes(i)),
                 None if freq is None or i >= len(freq) else int(freq[i]),
                 float(under.score[i]) if i < n else None,
                 float(under.embedding_ratio[i]) if i < n else None,
                 float(head[i]) if head is not None and i < n else None) for i in range(tok.vocab_size)]

    def versus(self, run_b: str, text: str, run_a: str | None = None, which: str = "best") -> Any:
        """``text`` scored under two runs side by side (versus.py): ``run_a`` (default: the loaded run)
        against ``run_b``."""
        from .versus import versus

        sides = []
        for name in (run_a or self.run_name, run_b):
            if name is None:
                raise TinyGPTError("No model is loaded to compare.", "load a run first, or name both runs.")
            if name == self.run_name and self._model is not None:
                sides.append((name, self.model, self.tokenizer))
                continue
            if not self.run_exists(name):
                raise TinyGPTError(f"There is no run named '{name}' in {self.models_dir}.",
                                   "list the runs with `tinygpt runs` (or /load with no name).")
            model, tok, _cfg = self.read_model(name, which=which)
            sides.append((name, model, tok))
        return versus(text, sides[0], sides[1])

    def timelapse(self, run: str | None = None) -> TimeLapse:
        """The checkpoint history of ``run`` (default: the loaded run) as a time-lapse (timelapse.py)."""
        from .timelapse import open_timelapse

        name = run or self.run_name
        if name is None or name.startswith("hf:"):
            raise TinyGPTError("The time-lapse plays back a run of this workbench, and none is named.",
                               "load a run (/load RUN) or name one: tinygpt timelapse --run RUN.")
        if not self.run_exists(name):
            raise TinyGPTError(f"There is no run named '{name}' in {self.models_dir}.",
                               "list the runs with `tinygpt runs` (or /load with no name).")
        return open_timelapse(self.run_folder(name))

    # -- sampling ----------------------------------------------------------------------------------
    def default_params(self) -> SamplingConfig:
        """The loaded run's sampling settings: those last saved for it (:meth:`save_params`), else its
        config's, else the defaults."""
        if self._config is None:
            return SamplingConfig()
        saved = self.saved_params(self.run_name) if self.run_name else None
        return saved or replace(self._config.sampling)

    def saved_params(self, run: str) -> SamplingConfig | None:
        """The sampling settings saved for ``run``, or None (none saved, or a file that is not valid:
        it is ignored, not obeyed)."""
        import json

        from .config import _build

        try:
            data = json.loads((self.run_folder(run) / runs.SAMPLING).read_text(encoding="utf-8"))
            return _build(SamplingConfig, data) if isinstance(data, dict) else None
        except (OSError, ValueError, TinyGPTError):
            return None

    def save_params(self, run: str, params: SamplingConfig) -> None:
        """Keep ``params`` as ``run``'s sampling settings for the next launch (best effort: a read-only
        folder only loses the convenience)."""
        import dataclasses
        import json

        from .atomic import atomic_write_text

        try:
            atomic_write_text(self.run_folder(run) / runs.SAMPLING,
                              json.dumps(dataclasses.asdict(params), indent=2) + "\n")
        except (OSError, TinyGPTError):
            pass

    def generate(self, prompt: str, params: SamplingConfig,
                 cancel: threading.Event | None = None) -> Iterator[TokenRecord]:
        """Stream token records for ``params.num_samples`` samples, one sample after the other.

        An unset seed is drawn once, so sample ``s`` uses ``seed + s`` and the call can be repeated.
        """
        from . import generate as gen

        return gen.generate_samples(self.model, self.tokenizer, prompt, params, cancel=cancel)

    def score(self, text: str) -> ScoreResult:
        """Per-token probabilities of ``text`` under the model (surprisal colouring, bits per byte)."""
        from .scoring import score_text

        return score_text(self.model, self.tokenizer, text)

    def branch(self, tree: BranchTree, bid: int, position: int, token: int,
               cancel: threading.Event | None = None) -> tuple[int, Iterator[TokenRecord]]:
        """A new branch of ``tree`` at ``position`` of branch ``bid`` taking ``token``: the parent it
        leaves (checked now: a TinyGPTError for a branch that cannot be) and a stream of its records.
        Add the records with ``tree.add(parent, position, token, records)`` once the stream ends."""
        from . import branches

        parent = tree.check_branch(bid, position, token, self.model.config.vocab_size)
        return parent, branches.branch_records(self.model, self.tokenizer, tree, parent, position, token,
                                               cancel=cancel)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The ids a generation from ``prompt`` starts with (``<|endoftext|>`` for an empty prompt)."""
        from .generate import encode_prompt

        return encode_prompt(self.tokenizer, prompt)

    def attention(self, ids: list[int]) -> AttentionMaps:
        """Attention maps of one forward pass over ``ids`` (its last ``block_size`` tokens)."""
        from .attention import attention_maps

        return attention_maps(self.model, self.tokenizer, ids)

    def token_context(self, prompt: str, ids: list[int], index: int, *, scored: bool = False) -> list[int]:
        """The ids the model saw before token ``index`` of a sample generated from ``prompt`` (whose
        ids are ``ids``), with the sampler's sliding window; ``scored``: of a text scored token by
        token (``ids`` its tokens), with the scorer's windows."""
        from .generate import doc_start_id, sampler_context
        from .scoring import score_context

        if not 0 <= index < len(ids):
            raise TinyGPTError(f"There is no token {index + 1}: the {'text' if scored else 'sample'} has "
                               f"{len(ids)} token{'s' if len(ids) != 1 else ''}.",
                               f"pick one from 1 to {len(ids)}." if ids else "generate something first.")
        block = self.model.config.block_size
        if scored:
            start = doc_start_id(self.tokenizer)
            return score_context([self.tokenizer.eot_id if start is None else start] + ids, index, block)
        return sampler_context(self.prompt_ids(prompt), ids, index, block)

    def logit_lens(self, context: list[int], chosen: int, top: int = 5) -> LogitLens:
        """What each layer would have predicted after ``context`` (see lens.py)."""
        from .lens import logit_lens

        return logit_lens(self.model, self.tokenizer, context, chosen, top)

    def sampler_cuts(self, context: list[int], chosen: int, params: SamplingConfig, top: int = 5) -> SamplerCuts:
        """The sampler's distribution after ``context`` at each of its stages under ``params`` (see cuts.py)."""
        from .cuts import sampler_cuts

        return sampler_cuts(self.model, self.tokenizer, context, chosen, params, top)
