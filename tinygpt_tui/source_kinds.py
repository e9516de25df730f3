"""The kinds of training-text source and the documents each yields: the built-in storybook, local
files and folders, a Hugging Face dataset, and a mixture of several.

A source spec (``--source``) is parsed into one of these by :func:`tinygpt_tui.sources.open_source`;
every source cleans its documents, applies the options all sources share (``sample``,
``max_stories``, ``seed``; read here by :func:`int_option` and its siblings) and reads on from a
saved position (:meth:`Source.reader`, see reading.py) so that a corpus can be written resumably.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import hub
from .config import TinyGPTError
from .reading import MixtureReader, Reader
from .textfiles import (
    FILE_SUFFIXES,
    choose_column,
    folder_files,
    read_jsonl,
    read_parquet,
    read_txt,
)

HUB_HINT = ("use --source storybook (built in, works offline) or a local .txt/.jsonl/.parquet file; "
            "for a dataset already in the Hugging Face cache, set HF_HUB_OFFLINE=1.")

Progress = Callable[[int, "int | None"], None]


# --------------------------------------------------------------------------------------------------
# Sources

class Source:
    """Something that yields documents (plain strings, no end-of-text marker).

    Subclasses implement ``_documents``; this base class cleans documents and applies the options
    shared by every source (``sample``, ``max_stories``).
    """

    #: True when the source can run out; False for generators such as the storybook.
    finite: bool = True

    def __init__(self, spec: str, options: dict[str, str], seed: int):
        self.spec = spec
        self.options = options
        self.seed = int_option(options, "seed", seed)
        self.sample = float_option(options, "sample", 1.0)
        if not 0.0 < self.sample <= 1.0:
            raise TinyGPTError(f"sample={options['sample']} in '{spec}' is out of range.",
                               "use a fraction between 0 and 1, e.g. sample=0.1 keeps 10% of documents.")
        self.max_stories = int_option(options, "max_stories", 0) if "max_stories" in options else None
        if self.max_stories is not None and self.max_stories <= 0:
            raise TinyGPTError(f"max_stories={options['max_stories']} in '{spec}' keeps no documents.",
                               "use a positive number of documents, e.g. max_stories=1000.")

    # what subclasses provide
    def _documents(self) -> Iterator[str]:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for humans."""
        return self.spec

    def input_files(self) -> list[Path]:
        """Local files the documents come from (so a changed file means a changed corpus)."""
        return []

    @property
    def uses_seed(self) -> bool:
        """Whether the caller's seed changes the documents (a ``seed=`` option in the spec fixes it)."""
        return self.sample < 1.0 and "seed" not in self.options

    def iter_documents(self) -> Iterator[str]:
        """Clean documents: normalised newlines, stripped, no ``<|endoftext|>`` inside, none empty."""
        return (doc for _, doc in self.reader())

    def reader(self, position: dict[str, Any] | None = None) -> Reader:
        """The documents as ``(part, document)`` pairs from ``position`` on (a :meth:`Reader.position`
        saved earlier; None: from the start). Resuming at a position gives exactly the documents an
        uninterrupted read would have given after it."""
        return Reader(self, position)

    def _documents_from(self, skip: int, stream: dict[str, Any] | None = None) -> Iterator[str]:
        """The raw documents after the first ``skip`` (sources that can seek do better than this).
        ``stream`` is what :meth:`stream_state` said at that point, for sources that keep one."""
        return itertools.islice(self._documents(), skip, None)

    def stream_state(self, raw: int) -> dict[str, Any] | None:
        """A JSON-able state from which the read going on now resumes just after raw document ``raw``
        (faster than skipping ``raw`` documents), or None: resuming skips them."""
        return None

    def _suffix(self) -> str:
        extra = []
        if self.sample < 1.0:
            extra.append(f"sampling {self.sample:.0%}")
        if self.max_stories:
            extra.append(f"at most {self.max_stories:,} documents")
        return f" ({', '.join(extra)})" if extra else ""


class StorybookSource(Source):
    """The built-in story generator: endless, offline, deterministic for its seed."""

    finite = False

    def _documents(self) -> Iterator[str]:
        from .storybook import generate_stories

        return generate_stories(self.seed)

    @property
    def uses_seed(self) -> bool:
        return "seed" not in self.options

    def describe(self) -> str:
        return f"built-in storybook, seed {self.seed}{self._suffix()}"


class LocalSource(Source):
    """A .txt, .jsonl or .parquet file, or a folder of them (read recursively in sorted order)."""

    def __init__(self, spec: str, path: Path, options: dict[str, str], seed: int):
        super().__init__(spec, options, seed)
        self.path = path
        self.column = options.get("column")
        if path.is_dir():
            self.files = folder_files(path)
            if not self.files:
                raise TinyGPTError(f"The folder '{path}' has no .txt, .jsonl or .parquet files.",
                                   "put text files in it or point --source at a file.")
        else:
            if path.suffix.lower() not in FILE_SUFFIXES:
                raise TinyGPTError(f"'{path}' is not a .txt, .jsonl or .parquet file.",
                                   "convert it to one of those, or use a folder of them.")
            self.files = [path]

    def _documents(self) -> Iterator[str]:
        for f in self.files:
            suffix = f.suffix.lower()
            if suffix == ".txt":
                yield from read_txt(f)
            elif suffix == ".jsonl":
                yield from read_jsonl(f, self.column)
            else:
                yield from read_parquet(f, self.column)

    def input_files(self) -> list[Path]:
        return list(self.files)

    def describe(self) -> str:
        what = f"folder {self.path} ({len(self.files)} files)" if self.path.is_dir() else f"file {self.path}"
        return what + self._suffix()


class HFSource(Source):
    """A Hugging Face dataset, loaded with ``datasets.load_dataset`` (imported only when used)."""

    def __init__(self, spec: str, dataset_id: str, options: dict[str, str], seed: int,
                 streaming_default: bool = False):
        super().__init__(spec, options, seed)
        if not dataset_id:
            raise TinyGPTError(f"'{spec}' names no dataset.", "write it like hf:roneneldan/TinyStories.")
        self.dataset_id = dataset_id
        self.split = options.get("split", "train")
        self.column = options.get("column")
        self.config = options.get("config")
        self.streaming = bool_option(options, "streaming", streaming_default)

    def describe(self) -> str:
        bits = [f"split {self.split}"]
        if self.config:
            bits.append(f"config {self.config}")
        if self.streaming:
            bits.append("streaming")
        return f"Hugging Face dataset {self.dataset_id} ({', '.join(bits)}){self._suffix()}"

    def _documents(self) -> Iterator[str]:
        return self._documents_from(0)

    def _documents_from(self, skip: int, stream: dict[str, Any] | None = None) -> Iterator[str]:
        # One item per row (a row without a string gives ""), so that ``skip`` counts rows. The dataset
        # itself skips them: a streamed one from its state_dict before the batch the position is in
        # (``stream``: files it had finished are not fetched again), else with ``skip`` (those rows are
        # not handed to us again).
        ds = self._load()
        column = self._pick_column(ds)
        try:
            ds = ds.select_columns([column])
        except Exception:  # older datasets or odd builders: iterate whole rows instead
            pass
        streamed = callable(getattr(ds, "load_state_dict", None))
        state, offset, base = None, 0, skip
        if stream and streamed and stream.get("state") is not None:
            state, offset, base = stream["state"], int(stream.get("offset", 0)), int(stream.get("skip", 0))
        if base:
            ds = ds.skip(base)
        if state is not None:
            ds.load_state_dict(state)
        # [dataset, its skip, (its state at the start of the batch being read, rows read by then), rows
        # read]: each element is replaced in one assignment, so an interrupt leaves it consistent
        live = [ds, base, (state, skip - offset), skip]
        self._live = live if streamed else None
        try:
            for batch in ds.iter(batch_size=1000):
                values = batch[column]
                if offset:  # resumed from the state before this batch: the rows already read go
                    values, offset = values[offset:], 0
                for value in values:
                    live[3] += 1
                    yield value if isinstance(value, str) else ""
                if streamed:  # the state after this batch is the state before the next
                    live[2] = (ds.state_dict(), live[3])
        except (ConnectionError, TimeoutError) as e:
            raise TinyGPTError(f"The Hugging Face hub could not be reached while reading '{self.dataset_id}' "
                               f"({type(e).__name__}).", HUB_HINT) from None

    def stream_state(self, raw: int) -> dict[str, Any] | None:
        live = getattr(self, "_live", None)
        if live is None or live[3] != raw or live[2][0] is None:
            return None  # the read is not where the position says, or not streamed: resuming skips rows
        before, rows = live[2]
        try:
            state = {"skip": live[1], "state": before, "offset": raw - rows}
            json.dumps(state)
        except Exception:  # a state that cannot be saved as JSON: resuming skips rows instead
            return None
        return state

    def _load(self) -> Any:
        try:
            import datasets
        except ImportError:  # pragma: no cover - a declared dependency
            raise TinyGPTError("The 'datasets' package is not installed.", "pip install datasets") from None
        # Our own progress bars report the corpus; datasets' per-split bars would only add noise.
        datasets.disable_progress_bars()
        local = expand_user(self.dataset_id)
        if local.exists():
            return self._load_local(datasets, local)
        if not hub.offline_mode():
            _check_hub_reachable(self.dataset_id)
        try:
            return datasets.load_dataset(self.dataset_id, self.config, split=self.split, streaming=self.streaming)
        except Exception as e:  # datasets raises many types; translate the ones a user can act on
            raise self._translate(e) from None

    def _load_local(self, datasets: Any, path: Path) -> Any:
        """A folder saved with ``save_to_disk``, or data files ``load_dataset`` can read."""
        try:
            if path.is_dir() and ((path / "state.json").exists() or (path / "dataset_dict.json").exists()):
                ds = datasets.load_from_disk(str(path))
                if isinstance(ds, datasets.DatasetDict):
                    if self.split not in ds:
                        raise TinyGPTError(f"The dataset at '{path}' has no split '{self.split}'.",
                                           f"choose one of: {', '.join(ds)} (e.g. split={next(iter(ds))}).")
                    ds = ds[self.split]
                return ds
            if path.is_file():
                builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv",
                           ".txt": "text"}.get(path.suffix.lower())
                if builder is None:
                    raise TinyGPTError(f"'{path}' is not a file type the datasets library can read here.",
                                       "use .jsonl, .json, .parquet, .csv or .txt.")
                return datasets.load_dataset(builder, data_files={self.split: str(path)}, split=self.split,
                                             streaming=self.streaming)
            return datasets.load_dataset(str(path), self.config, split=self.split, streaming=self.streaming)
        except TinyGPTError:
            raise
        except Exception as e:
            raise self._translate(e) from None

    def _translate(self, e: Exception) -> TinyGPTError:
        name = type(e).__name__
        text = str(e).strip().splitlines()[0] if str(e).strip() else name
        if isinstance(e, (ConnectionError, TimeoutError)) or name in (
                "LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectTimeout"):
            if hub.offline_mode():
                return TinyGPTError(f"'{self.dataset_id}' is not in the local Hugging Face cache, and offline "
                                    "mode (HF_HUB_OFFLINE) is on.",
                                    "use --source storybook (built in) or a local .txt/.jsonl/.parquet file, "
                                    "or unset HF_HUB_OFFLINE where the hub can be reached.")
            return TinyGPTError(f"The Hugging Face hub could not be reached, so '{self.dataset_id}' could not "
                                "be loaded.", HUB_HINT)
        if name in ("DatasetNotFoundError", "RepositoryNotFoundError", "DataFilesNotFoundError",
                    "FileNotFoundError", "EmptyDatasetError"):
            return TinyGPTError(f"The dataset '{self.dataset_id}' was not found ({text}).",
                                "check the dataset id on huggingface.co, or the path of a local dataset.")
        return TinyGPTError(f"The dataset '{self.dataset_id}' could not be loaded: {text}",
                            "check split=, config= and column= (see the dataset's page for its names).")

    def _pick_column(self, ds: Any) -> str:
        names, string_names = _dataset_columns(ds)
        if self.column:
            if names and self.column not in names:
                raise TinyGPTError(f"The dataset '{self.dataset_id}' has no column '{self.column}'.",
                                   f"its columns are: {', '.join(names)}.")
            return self.column
        column = choose_column(string_names)
        if column is None:
            raise TinyGPTError(f"The dataset '{self.dataset_id}' has no text column.",
                               f"name one with column=NAME (its columns are: {', '.join(names) or 'unknown'}).")
        return column


class MixtureSource(Source):
    """Several sources interleaved so that each one's share of the bytes follows its weight."""

    def __init__(self, spec: str, parts: list[tuple[float, Source]], seed: int):
        super().__init__(spec, {}, seed)
        total = sum(w for w, _ in parts)
        self.parts = [(w / total, s) for w, s in parts]
        self.finite = any(s.finite for _, s in self.parts)

    @property
    def uses_seed(self) -> bool:
        return any(s.uses_seed for _, s in self.parts)

    def describe(self) -> str:
        return " + ".join(f"{w:.0%} {s.describe()}" for w, s in self.parts)

    def input_files(self) -> list[Path]:
        return [f for _, s in self.parts for f in s.input_files()]

    def _documents(self) -> Iterator[str]:
        return (doc for _, doc in self.iter_tagged())

    def iter_tagged(self) -> Iterator[tuple[int, str]]:
        """(part index, document) pairs, so a caller can count what each part contributed."""
        return iter(self.reader())

    def reader(self, position: dict[str, Any] | None = None) -> Reader:
        return MixtureReader(self, position)


# --------------------------------------------------------------------------------------------------
# Spec parsing


def expand_user(path: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; an unknown user is one sentence."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise TinyGPTError(f"Cannot expand '{path.split('/', 1)[0]}' in {path}: there is no such user or home "
                           f"folder.", "write the path in full, e.g. /home/NAME/file.txt.") from None


def int_option(options: dict[str, str], key: str, default: int) -> int:
    if key not in options:
        return default
    try:
        return int(options[key])
    except ValueError:
        raise TinyGPTError(f"{key}={options[key]} is not a whole number.", f"write it like {key}=3.") from None


def float_option(options: dict[str, str], key: str, default: float) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        raise TinyGPTError(f"{key}={options[key]} is not a number.", f"write it like {key}=0.1.") from None
    if not math.isfinite(value):
        raise TinyGPTError(f"{key}={options[key]} is not a finite number.", f"write it like {key}=0.1.")
    return value


def bool_option(options: dict[str, str], key: str, default: bool) -> bool:
    if key not in options:
        return default
    low = options[key].lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise TinyGPTError(f"{key}={options[key]} is not yes or no.", f"write {key}=1 or {key}=0.")


def _dataset_columns(ds: Any) -> tuple[list[str], list[str]]:
    """(all column names, string column names) of a datasets Dataset/IterableDataset."""
    features = getattr(ds, "features", None)
    if features:
        names = list(features)
        strings = [n for n, f in features.items() if getattr(f, "dtype", None) in ("string", "large_string")]
        return names, strings
    # Streaming datasets may not know their features until the first row is read.
    try:
        first = next(iter(ds))
    except StopIteration:
        return [], []
    return list(first), [k for k, v in first.items() if isinstance(v, str)]


def _check_hub_reachable(dataset_id: str) -> None:
    """Fail in seconds, not minutes, when the hub is out of reach (datasets would retry with backoff)."""
    if not hub.reachable():
        raise TinyGPTError(f"The Hugging Face hub ({hub.host()}) could not be reached, so '{dataset_id}' could "
                           "not be downloaded.", HUB_HINT)
