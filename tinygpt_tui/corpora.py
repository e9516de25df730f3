"""Prepared datasets: ``data/<dataset>/corpus.txt`` written from a source, described by ``source.json``.

:func:`prepare` (and :func:`prepare_corpus`) turns a :class:`DataConfig`'s source spec (sources.py)
into a corpus file (corpus.py format) in a folder named by :func:`dataset_name`, and reuses it while
the spec, cap, seed and input files are unchanged. The corpus is written by corpus_build.py, which
resumes an interrupted preparation of the same source where it stopped, and ``source.json`` (with
``"complete": true``) is written last, so an interrupted preparation never looks finished. :func:`list_datasets` and :func:`dataset_info` describe
what is there (the token shard sets are listed by shards.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text, remove_orphaned_temp_files
from .config import DataConfig, TinyGPTError
from .corpus_build import Notice, build_corpus, partial_progress, preparing
from .shards import list_shard_sets
from .sources import (
    DEFAULT_INFINITE_BYTES,
    DEFAULT_SEED,
    TERM,
    MixtureSource,
    Progress,
    Source,
    expand_user,
    open_source,
    split_terms,
)


@dataclass
class PrepareResult:
    """What :func:`prepare` did: where the dataset lives, its source.json, and whether it was reused."""

    path: Path
    info: dict[str, Any]
    reused: bool
    seconds: float
    counts: list[dict[str, Any]] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _size_tag(n: int) -> str:
    for unit, mult in (("gb", 10**9), ("mb", 10**6), ("kb", 10**3)):
        if n >= mult:
            return f"{n / mult:g}{unit}".replace(".", "p")
    return f"{n}b"


def dataset_name(cfg: DataConfig) -> str:
    """The folder under data/ for this config: ``cfg.dataset`` when set, else derived from the spec.

    The derived name carries the seed (when it is not the default and the source uses it) and the
    byte cap (when one is given), so runs with different settings never overwrite each other's corpus.
    """
    if cfg.dataset:
        name = cfg.dataset.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name) or ".." in name:
            raise TinyGPTError(f"'{name}' is not a valid dataset name.",
                               "use letters, digits, '-', '_' or '.', starting with a letter or digit.")
        return name
    source = open_source(cfg.source, cfg.seed)
    terms = split_terms(cfg.source)
    has_path = False
    pieces = []
    for term in terms if terms is not None else [cfg.source.strip()]:
        weight, base = "", term.strip()
        if terms is not None:
            m = TERM.match(term)
            weight, base = (m.group("w") or ""), m.group("spec")  # validated by open_source above
        head, _, query = base.partition("?")
        low = head.lower()
        if not (low in ("storybook", "tinystories") or low.startswith("hf:")):
            has_path = True
            head = Path(head).name or head  # the file or folder name, not the whole path
        elif low.startswith("hf:"):
            head = head[3:]
        pieces.append(_slug(" ".join(x for x in (weight, head, query) if x)))
    name = "-".join(p for p in pieces if p) or "dataset"
    if source.uses_seed and cfg.seed != DEFAULT_SEED and "seed=" not in cfg.source:
        name += f"-s{cfg.seed}"
    if cfg.max_bytes is not None:
        name += f"-{_size_tag(cfg.max_bytes)}"
    if has_path or len(name) > 48:
        # Paths are shortened to their last part; a short hash of the full spec keeps names apart.
        full = cfg.source if not has_path else _abs_spec(cfg.source)
        name = f"{name[:40].rstrip('-')}-{hashlib.sha1(full.encode()).hexdigest()[:6]}"
    return name


def _abs_spec(spec: str) -> str:
    """The spec with local paths made absolute, so 'a.txt' here and 'a.txt' elsewhere differ."""
    def fix(term: str) -> str:
        weight, base = "", term.strip()
        m = TERM.match(term)
        if m and m.group("w") is not None:
            weight, base = m.group("w") + "*", m.group("spec")
        head, q, query = base.partition("?")
        low = head.strip().lower()
        if low in ("storybook", "tinystories") or low.startswith("hf:"):
            return term.strip()
        return f"{weight}{expand_user(head.strip()).resolve()}{q}{query}"
    terms = split_terms(spec)
    return " + ".join(fix(t) for t in terms) if terms is not None else fix(spec)


def corpus_path(data: Path, name: str) -> Path:
    """The corpus file of dataset ``name`` in the data folder ``data``."""
    return Path(data) / name / "corpus.txt"


def _read_source_json(folder: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((folder / "source.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return info if isinstance(info, dict) else None


def _is_complete(folder: Path, info: dict[str, Any] | None) -> bool:
    if not info or info.get("complete") is not True:
        return False
    try:
        return (folder / "corpus.txt").stat().st_size == info.get("bytes")
    except OSError:
        return False


def prepare(data: Path, cfg: DataConfig, progress: Progress | None = None, *,
            replace: bool = False, notice: Notice | None = None) -> PrepareResult:
    """Write ``<data>/<dataset>/corpus.txt`` and ``source.json`` unless a matching complete corpus exists.

    A complete dataset of that name made from another source is replaced only with ``replace`` (the
    user named it to ``tinygpt data prepare``); otherwise that is refused in one sentence, so training
    never rebuilds a dataset other runs use from a defaulted source.

    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes are written; an exception raised
    from it (or anywhere) stops the preparation and leaves nothing that looks complete. What was
    written is kept (corpus_build.py): the next call with the same source resumes it. ``notice(text)``
    hears about that ("resuming the corpus at ...", or why an unfinished corpus starts over).
    """
    start = time.perf_counter()
    name = dataset_name(cfg)
    folder = Path(data) / name
    source = open_source(cfg.source, cfg.seed)
    cap = cfg.max_bytes if cfg.max_bytes is not None else (None if source.finite else DEFAULT_INFINITE_BYTES)
    if cap == 0:
        raise TinyGPTError("A corpus capped at 0 bytes holds no text.", "drop --max-bytes, or give a size like 5MB.")
    seed = cfg.seed if source.uses_seed else None
    resolved = _abs_spec(cfg.source)
    inputs = _input_stamps(source)
    old = _read_source_json(folder)
    if _reusable(folder, old, resolved, cap, seed, inputs):
        assert old is not None
        return _reused(folder, old, progress, start)

    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    with preparing(folder, notice, progress):
        old = _read_source_json(folder)  # another process may have prepared it while we waited
        if _reusable(folder, old, resolved, cap, seed, inputs):
            assert old is not None
            return _reused(folder, old, progress, start)
        if not replace and _is_complete(folder, old) and old is not None and old.get("resolved") not in (None, resolved):
            # a prepared dataset of another source is never replaced silently (it may be what other runs
            # train on): the user names the source it was made from, or another dataset
            raise TinyGPTError(
                f"Dataset '{name}' in {data} was prepared from {old.get('spec', old.get('resolved'))}, not from "
                f"{cfg.source}; it is left as it is.",
                f"give --source {old.get('spec', old.get('resolved'))} to use it, or another dataset name for "
                f"{cfg.source}; tinygpt data prepare --name {name} --source ... replaces it.")
        # From here on nothing may look complete until the new source.json is written at the very end.
        (folder / "source.json").unlink(missing_ok=True)
        (folder / "corpus.txt").unlink(missing_ok=True)  # an older corpus: no file but the finished one bears the name
        remove_orphaned_temp_files(folder)  # leftovers of writers killed before this format
        identity = {"resolved": resolved, "max_bytes": cap, "seed": seed, "inputs": inputs}
        try:
            built = build_corpus(folder, source, identity, cap, spec=cfg.source, progress=progress, notice=notice)
        except BaseException:
            if made_folder and not any(folder.iterdir()):  # no empty folder for a source that failed at once
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        # Token shards made from an older corpus no longer match it.
        shutil.rmtree(folder / "shards", ignore_errors=True)
        size = built.bytes
        parts: list[dict[str, Any]] = []
        if isinstance(source, MixtureSource):
            parts = [{"source": s.spec, "weight": round(w, 6), "documents": d, "bytes": b,
                      "share": round(b / size, 4)}
                     for (w, s), d, b in zip(source.parts, built.part_documents, built.part_bytes, strict=True)]
        seconds = time.perf_counter() - start
        info = {
            "name": name,
            "spec": cfg.source,
            "resolved": resolved,
            "description": source.describe(),
            "inputs": inputs,
            "seed": seed,
            "max_bytes": cap,
            "capped": built.capped,
            "documents": built.documents,
            "bytes": size,
            "sha256": built.sha256,
            "parts": parts,
            "seconds": round(seconds, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "complete": True,
        }
        if built.resumed:
            info["resumed_from"] = built.resumed
        atomic_write_text(folder / "source.json", json.dumps(info, indent=2) + "\n")
    return PrepareResult(folder, info, False, seconds, parts)


def _reused(folder: Path, old: dict[str, Any], progress: Progress | None, start: float) -> PrepareResult:
    if progress:  # a reused corpus is complete at once: say so, so that progress bars end full
        progress(old["bytes"], old["bytes"])
    return PrepareResult(folder, old, True, time.perf_counter() - start, old.get("parts", []))


def _reusable(folder: Path, old: dict[str, Any] | None, resolved: str, cap: int | None, seed: int | None,
              inputs: list[list[Any]]) -> bool:
    """Whether the complete corpus described by ``old`` is the one this source would make."""
    return (_is_complete(folder, old) and old is not None and old.get("resolved") == resolved
            and old.get("max_bytes") == cap and old.get("seed") == seed and old.get("inputs") == inputs)


def corpus_state(data: Path, cfg: DataConfig) -> tuple[str, str | None]:
    """What preparing ``cfg`` would do, without doing it: ("current", sha256) when the prepared corpus
    is reused as it is; ("stale", its sha256) when a local input file changed (or the source is
    another) so it would be rebuilt; ("missing", None) when there is no complete corpus yet."""
    name = dataset_name(cfg)
    folder = Path(data) / name
    old = _read_source_json(folder)
    if not _is_complete(folder, old) or old is None:
        return "missing", None
    source = open_source(cfg.source, cfg.seed)
    cap = cfg.max_bytes if cfg.max_bytes is not None else (None if source.finite else DEFAULT_INFINITE_BYTES)
    seed = cfg.seed if source.uses_seed else None
    try:
        inputs = _input_stamps(source)
    except OSError:
        return "stale", old.get("sha256")
    if _reusable(folder, old, _abs_spec(cfg.source), cap, seed, inputs):
        return "current", old.get("sha256")
    return "stale", old.get("sha256")


def _input_stamps(source: Source) -> list[list[Any]]:
    """[path, size, mtime_ns] of each local input file: an edited file makes the old corpus stale."""
    stamps = []
    for f in source.input_files():
        st = f.stat()
        stamps.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return stamps


def prepare_corpus(data: Path, cfg: DataConfig, progress: Progress | None = None,
                   notice: Notice | None = None) -> Path:
    """Prepare (or reuse) the corpus for ``cfg`` and return its folder, ``<data>/<dataset>``.

    The corpus itself is ``<folder>/corpus.txt``; its description is ``<folder>/source.json``.
    """
    return prepare(data, cfg, progress, notice=notice).path


def dataset_source(data: Path, name: str) -> str | None:
    """The source spec the prepared dataset ``name`` was made from, or None (no such dataset)."""
    info = _read_source_json(Path(data) / name)
    spec = info.get("spec") if info else None
    return spec if isinstance(spec, str) else None


def list_datasets(data: Path) -> list[dict[str, Any]]:
    """Every folder under the data folder ``data`` that holds a corpus (complete or not), by name."""
    root = Path(data)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        info = _read_source_json(folder)
        partial = partial_progress(folder)
        if info is None and not (folder / "corpus.txt").exists() and partial is None:
            continue
        if info is None and partial is not None:  # an unfinished preparation: its own spec and counts
            info = {"spec": partial.get("spec", "?"), "documents": partial.get("documents"),
                    "bytes": partial.get("bytes")}
        out.append({
            "name": folder.name,
            "spec": (info or {}).get("spec", "?"),
            "documents": (info or {}).get("documents"),
            "bytes": (info or {}).get("bytes"),
            "complete": _is_complete(folder, info),
            "created": (info or {}).get("created"),
            "shards": [s["fingerprint"] for s in list_shard_sets(folder)],
            "partial": None if partial is None else {"documents": partial.get("documents"),
                                                     "bytes": partial.get("bytes")},
        })
    return out


def dataset_info(data: Path, name: str) -> dict[str, Any]:
    """The source.json of a prepared dataset plus its paths and token shard sets; TinyGPTError if absent."""
    folder = Path(data) / name
    info = _read_source_json(folder) if folder.is_dir() else None
    partial = partial_progress(folder) if folder.is_dir() else None
    if info is None and not (folder / "corpus.txt").exists() and partial is None:
        known = [d["name"] for d in list_datasets(data)]
        raise TinyGPTError(f"There is no prepared dataset named '{name}' in {data}.",
                           f"prepared datasets: {', '.join(known)}." if known else
                           "make one with: tinygpt data prepare --source storybook")
    out = dict(info or {"name": name, "complete": False})
    out.update(name=name, path=str(folder), corpus=str(folder / "corpus.txt"),
               complete=_is_complete(folder, info), shards=list_shard_sets(folder),
               partial=None if partial is None else {k: partial.get(k) for k in ("spec", "documents", "bytes")})
    if info is None and partial is not None:
        out.update(spec=partial.get("spec", "?"))
    return out
