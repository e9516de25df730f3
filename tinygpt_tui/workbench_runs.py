"""The facade's shelf of runs: which runs exist and what they hold, renaming and deleting them, the
datasets and shards they trained on, and the tables saved from them.

A part of :class:`~tinygpt_tui.workbench.Workbench` (a base class of it), split off by job; faces reach
it through the workbench, never directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import events as ev
from . import runs
from .config import RunConfig, TinyGPTError

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .generate import TokenRecord
    from .runops import Footprint
    from .runs import RunInfo
    from .supervise import TrainingProcess
    from .tokenizer import Tokenizer
    from .workspace import Workspace


class RunShelf:
    """The runs, datasets and tables of one workspace (``workspace``, ``models_dir``, ``data_dir``:
    set by the workbench)."""

    workspace: Workspace
    models_dir: Path
    data_dir: Path
    training: dict[str, TrainingProcess]

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
