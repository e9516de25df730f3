"""The facade every face uses: which runs exist and what they hold; load, tokenize, generate, score,
look at attention and the vocabulary; start, stop and attach to training.

The TUI, the CLI and the REPL talk to the core through one :class:`Workbench`, which holds the
:class:`~tinygpt_tui.workspace.Workspace` an entry point gave it. It imports nothing from Textual,
Rich or prompt-toolkit, and it imports torch only when a model is loaded, so a face can paint its
first frame before torch is in memory. Training runs in its own process (:mod:`supervise`).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import runs
from .config import RunConfig, SamplingConfig, TinyGPTError
from .supervise import MetricsFollower, TrainingProcess
from .workspace import Workspace

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .attention import AttentionMaps
    from .branches import BranchTree
    from .cuts import SamplerCuts
    from .generate import ScoreResult, TokenRecord
    from .lens import LogitLens
    from .model import GPT
    from .runops import Footprint
    from .runs import RunInfo
    from .timelapse import TimeLapse
    from .tokenizer import Tokenizer


class Workbench:
    """One loaded run at a time (its model, tokenizer and config); plus the runs, datasets and training
    of one workspace."""

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

    # -- runs --------------------------------------------------------------------------------------
    def run_folder(self, name: str) -> Path:
        """The folder of run ``name`` (TinyGPTError for a name that cannot be a run)."""
        return runs.run_dir(self.models_dir, name)

    def list_runs(self) -> list[RunInfo]:
        """Every run under the models folder, newest first."""
        return runs.list_runs(self.models_dir)

    def run_names(self) -> set[str]:
        return {info.name for info in self.list_runs()}

    def run_exists(self, name: str) -> bool:
        return (self.models_dir / name / runs.CONFIG).is_file()

    def create_run(self, cfg: RunConfig) -> Path:
        """Write a new run folder with ``cfg`` (TinyGPTError if the name is taken)."""
        return runs.create_run(self.models_dir, cfg)

    def run_config(self, name: str) -> RunConfig:
        return runs.load_run_config(self.run_folder(name))

    def has_weights(self, name: str) -> bool:
        d = self.models_dir / name
        # state.safetensors holds the weights too (the latest ones, when a kill came before model.safetensors)
        return any((d / f).is_file() for f in (runs.WEIGHTS, runs.BEST, runs.STATE))

    def default_run(self) -> str:
        """The most recently updated run with weights; TinyGPTError pointing at training when none."""
        infos = self.list_runs()  # newest first
        with_weights = [r for r in infos if r.has_weights]
        if with_weights:
            return with_weights[0].name
        if infos:
            raise TinyGPTError(f"No run in {self.workspace.models} has trained weights yet.",
                               f"train one first: tinygpt train --run {infos[0].name}")
        raise TinyGPTError(f"There are no runs in {self.workspace.models}.",
                           "train one first: tinygpt train --run quick --preset tiny")

    def read_metrics(self, name: str, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        return runs.read_metrics(self.run_folder(name), since_offset=since_offset)

    def read_events(self, name: str, since_offset: int = 0) -> tuple[list[ev.Event | ev.EventError], int]:
        """:meth:`read_metrics`, each event read once (:func:`events.read`): typed, or the EventError
        of one that cannot be read; kinds this version does not know are left out."""
        wires, offset = self.read_metrics(name, since_offset)
        return [e for e in map(ev.read, wires) if e is not None], offset

    def training_pid(self, name: str) -> int | None:
        """The pid of the process training ``name`` (this workbench's child or another), or None."""
        proc = self.training.get(name)
        if proc is not None and proc.alive:
            return proc.proc.pid
        return runs.lock_owner(self.run_folder(name))

    def is_training(self, name: str) -> bool:
        """True while any process (this one's or another) holds the run's training lock."""
        proc = self.training.get(name)
        if proc is not None and proc.alive:
            return True
        return runs.is_training(self.run_folder(name))

    def rename_run(self, old: str, new: str) -> Path:
        """Rename run ``old`` to ``new`` (see runops.py); a loaded run stays loaded under its new name.
        Refused while it trains, here or elsewhere."""
        from . import runops

        self._refuse_training_here(old, "renamed")
        folder = runops.rename_run(self.models_dir, old, new)
        self.training.pop(old, None)  # a finished process of the old name: nothing to keep
        if self.run_name == old:
            self.run_name = new
        return folder

    def delete_run(self, name: str) -> Footprint:
        """Delete run ``name`` and its files (see runops.py). Refused while it trains and while it is the
        loaded run."""
        from . import runops

        if self.loaded and self.run_name == name:
            raise TinyGPTError(f"Run '{name}' is loaded for generation, so it cannot be deleted.",
                               "load another run first (/load RUN), then delete this one.")
        self._refuse_training_here(name, "deleted")
        removed = runops.delete_run(self.models_dir, name)
        self.training.pop(name, None)
        return removed

    def run_footprint(self, name: str) -> Footprint:
        """The files and bytes of run ``name`` (what deleting it removes)."""
        from . import runops

        return runops.footprint(runops.run_folder(self.models_dir, name))

    def _refuse_training_here(self, name: str, doing: str) -> None:
        proc = self.training.get(name)
        if proc is not None and proc.alive:
            raise TinyGPTError(f"Run '{name}' is training in this session, so it cannot be {doing}.",
                               "stop it first (x on its training screen, or /stop), then try again.")

    # -- table exports -----------------------------------------------------------------------------
    def save_table(self, kind: str, path: Path, *, prompt: str = "", records: list[TokenRecord] | None = None,
                   run: str | None = None) -> tuple[Path, int]:
        """Write ``kind`` (samples, tokens: of ``records``, a generation from ``prompt``; metrics: of
        ``run``) to ``path`` as JSON or CSV (by its extension); returns the path and the rows written."""
        from . import tables

        tables.table_format(Path(path))  # a bad extension is said before anything else
        if kind == "metrics":
            if run is None:
                raise TinyGPTError("Whose metrics?", "name the run: /save metrics FILE RUN, or open one first.")
            if not self.run_exists(run):
                raise TinyGPTError(f"There is no run named '{run}' in {self.models_dir}.",
                                   "check the name on the runs screen.")
            wires, _ = self.read_metrics(run)
            rows = tables.metric_rows(wires)
            if not rows:
                raise TinyGPTError(f"Run '{run}' has no metrics yet.", "train it first; its steps are recorded as it goes.")
        elif kind in ("samples", "tokens"):
            if not records:
                raise TinyGPTError(f"There is no generation to save {kind} of yet.",
                                   "generate first: type a prompt and press enter.")
            rows = tables.sample_rows(prompt, records) if kind == "samples" else tables.token_rows(records)
        else:
            raise TinyGPTError(f"Cannot save '{kind}'.", f"save one of: {', '.join(tables.KINDS)}.")
        return tables.write_table(Path(path), rows), len(rows)

    # -- datasets and shards -----------------------------------------------------------------------
    def dataset_dir(self, name: str) -> Path:
        """The folder of prepared dataset ``name`` (TinyGPTError when it does not exist)."""
        d = self.workspace.data / name
        if not d.is_dir():
            raise TinyGPTError(f"There is no dataset named '{name}' in {self.workspace.data}.",
                               "prepare it with `tinygpt data prepare`, or check --data-dir.")
        return d

    def run_tokenizer_path(self, name: str) -> Path:
        """``<models>/<name>/tokenizer.json``, with clear errors when the run or its tokenizer is missing."""
        run = self.workspace.models / name
        if not run.is_dir():
            raise TinyGPTError(f"There is no run named '{name}' in {self.workspace.models}.",
                               "check the name (runs are the folders there) or pass --models-dir.")
        path = run / runs.TOKENIZER
        if not path.is_file():
            raise TinyGPTError(f"The run '{name}' has no tokenizer yet.",
                               "its training creates one; or pass --tokenizer PATH.")
        return path

    def run_shards(self, name: str, tok: Tokenizer) -> Path | None:
        """The shard folder run ``name`` trained on with ``tok`` (found through its config), or None
        when it has none yet."""
        from . import corpora, shards

        try:
            cfg = self.run_config(name)
            path = shards.shards_dir(self.data_dir / corpora.dataset_name(cfg.data), tok)
        except (OSError, TinyGPTError):
            return None
        return path if (path / "meta.json").is_file() else None

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
        """Create ``run`` starting from a GPT-2-shaped transformers folder (see hf_import.py)."""
        from .hf_import import import_run

        return import_run(self.models_dir, Path(folder), run, source=source, preset=preset,
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
        from . import generate as gen

        return gen.score_text(self.model, self.tokenizer, text)

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
        from .generate import doc_start_id, sampler_context, score_context

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

    # -- training ----------------------------------------------------------------------------------
    def start_training(self, run: str | RunConfig, extra_args: list[str] | None = None,
                       nproc: int = 1) -> TrainingProcess:
        """Start (or resume) training ``run`` in a new process (``nproc`` processes: DDP through torchrun);
        a RunConfig is created first."""
        from .distributed import check_nproc

        if isinstance(run, RunConfig):
            check_nproc(nproc, run.train.grad_accum)
            if not self.run_exists(run.name):
                self.create_run(run)
            name = run.name
        else:
            name = run
        if not self.run_exists(name):
            raise TinyGPTError(f"There is no run named '{name}'.", "create it first with /new.")
        current = self.training.get(name)
        if current is not None and current.alive:
            finishing = current.stop_requested or current.state.status in ("done", "error")
            if not finishing:
                return current
            # it said its last word and is exiting: let it release the run's lock first
            try:
                current.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise TinyGPTError(f"Run '{name}' is still saving its checkpoint.",
                                   "try again in a moment.") from None
        if self.is_training(name):
            raise TinyGPTError(f"Run '{name}' is already training in another process.",
                               "watch it with /train (it attaches) or stop that process first.")
        check_nproc(nproc, self.run_config(name).train.grad_accum if nproc > 1 else 1)
        proc = TrainingProcess(name, Workspace(self.models_dir, self.data_dir), extra_args, nproc=nproc)
        self.training[name] = proc
        return proc

    def extend_run(self, run: str, *, steps: int | None = None, seconds: float | None = None) -> str:
        """Give ``run`` more to train from where it stopped: ``steps`` more optimizer steps or ``seconds``
        more of training time (neither: its preset's budget again, in its own unit). Rewrites its
        ``max_steps``/``max_time``; training it again resumes exactly from its checkpoint. Returns what
        was added, as words ("300 more steps", "2m 0s more")."""
        from .presets import PRESETS
        from .units import duration

        if steps is not None and steps <= 0 or seconds is not None and seconds <= 0:
            raise TinyGPTError("Continue for a positive number of steps or seconds.",
                               "for example /continue 500 (steps) or /continue 2m.")
        if self.is_training(run):
            raise TinyGPTError(f"Run '{run}' is training right now.", "stop it first (x or /stop).")
        folder = self.run_folder(run)
        cfg = self.run_config(run)
        kept = runs.state_summary(folder) or {}
        step, elapsed = int(kept.get("step", 0)), float(kept.get("elapsed", 0.0))
        tc = cfg.train
        if steps is None and seconds is None:
            plan = PRESETS.get(cfg.preset, {}).get("train", {})
            if tc.max_time:
                seconds = float(plan.get("max_time") or tc.max_time)
            else:
                steps = int(plan.get("max_steps") or tc.max_steps)
        if seconds is not None:
            # a time budget counts from the time already trained; the step plan stays (it sets warmup)
            tc.max_time = (elapsed if kept else 0.0) + seconds
            added = f"{duration(seconds)} more"
        else:
            assert steps is not None
            tc.max_time = None
            tc.max_steps = (step if kept else 0) + steps
            added = f"{steps:,} more steps"
        runs.save_run_config(folder, cfg)
        return added

    def stop_training(self, run: str, wait: float | None = None) -> bool:
        """Stop the training of ``run`` gracefully (it saves a checkpoint): this workbench's own process,
        or one another app, REPL or terminal left training (SIGINT to the pid its lock names, once the
        process's start time matches the lock's). False when nothing could be stopped."""
        proc = self.training.get(run)
        if proc is not None and proc.alive:
            proc.stop(wait=wait)
            return True
        if not self.run_exists(run):
            return False
        return runs.interrupt_trainer(self.run_folder(run)) is not None

    def started_training(self) -> list[TrainingProcess]:
        """Every training process this workbench started, running or finished."""
        return list(self.training.values())

    def active_training(self) -> list[TrainingProcess]:
        """Training processes this workbench started that are still training (not those that said
        their last word and are only exiting)."""
        return [p for p in self.training.values() if p.running]

    def attach(self, run: str, since_offset: int = 0) -> MetricsFollower:
        """Follow a run being trained elsewhere (metrics.jsonl), from ``since_offset``."""
        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "check the name on the runs screen.")
        return MetricsFollower(self.run_folder(run), since_offset=since_offset)

    def shutdown(self, stop_training: bool = True, wait: float = 30.0) -> None:
        """Stop this workbench's training processes gracefully (each saves a checkpoint)."""
        if not stop_training:
            return
        for proc in self.active_training():
            proc.stop(wait=wait)
