"""Prepared datasets: ``data/<dataset>/corpus.txt`` written from a source, described by ``source.json``.

:func:`prepare` (and :func:`prepare_corpus`) turns a :class:`DataConfig`'s source spec (sources.py)
into a corpus file (corpus.py format) in a folder named by :func:`dataset_name`, and reuses it while
the spec, cap, seed and input files are unchanged. The corpus is written to a temporary file and
renamed into place, and ``source.json`` (with ``"complete": true``) is written last, so an
interrupted preparation never looks finished. :func:`list_datasets` and :func:`dataset_info` describe
what is there (the token shard sets are listed by shards.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text, fsync_dir, pid_temp_file, remove_orphaned_temp_files
from .config import DataConfig, TinyGPTError
from .corpus import document_bytes, truncated_document
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
            replace: bool = False) -> PrepareResult:
    """Write ``<data>/<dataset>/corpus.txt`` and ``source.json`` unless a matching complete corpus exists.

    A complete dataset of that name made from another source is replaced only with ``replace`` (the
    user named it to ``tinygpt data prepare``); otherwise that is refused in one sentence, so training
    never rebuilds a dataset other runs use from a defaulted source.

    ``progress(done_bytes, total_bytes_or_None)`` is called as bytes are written; an exception raised
    from it (or anywhere) aborts the preparation and leaves nothing that looks complete.
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
        if progress:  # a reused corpus is complete at once: say so, so that progress bars end full
            progress(old["bytes"], old["bytes"])
        return PrepareResult(folder, old, True, time.perf_counter() - start, old.get("parts", []))

    if not replace and _is_complete(folder, old) and old is not None and old.get("resolved") not in (None, resolved):
        # a prepared dataset of another source is never replaced silently (it may be what other runs
        # train on): the user names the source it was made from, or another dataset
        raise TinyGPTError(
            f"Dataset '{name}' in {data} was prepared from {old.get('spec', old.get('resolved'))}, not from "
            f"{cfg.source}; it is left as it is.",
            f"give --source {old.get('spec', old.get('resolved'))} to use it, or another dataset name for "
            f"{cfg.source}; tinygpt data prepare --name {name} --source ... replaces it.")

    made_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    # From here on nothing may look complete until the new source.json is written at the very end.
    (folder / "source.json").unlink(missing_ok=True)
    corpus = folder / "corpus.txt"
    remove_orphaned_temp_files(folder)  # corpus-sized leftovers of a killed preparation
    tmp = pid_temp_file(folder, "corpus.txt")
    digest = hashlib.sha256()
    documents = 0
    size = 0
    capped = False
    tagged = source.iter_tagged() if isinstance(source, MixtureSource) else ((0, d) for d in source.iter_documents())
    n_parts = len(source.parts) if isinstance(source, MixtureSource) else 1
    part_docs = [0] * n_parts
    part_bytes = [0] * n_parts
    report_every = 1 << 18
    next_report = report_every
    try:
        with open(tmp, "wb") as f:
            pending: list[bytes] = []
            pending_bytes = 0
            if progress:
                progress(0, cap)
            for part, doc in tagged:
                chunk = document_bytes(doc)
                if cap is not None and size + len(chunk) > cap:
                    capped = True
                    if documents == 0:
                        chunk = truncated_document(doc, cap)  # a single huge first document: keep what fits
                        if not chunk:
                            break
                    else:
                        break
                pending.append(chunk)
                pending_bytes += len(chunk)
                documents += 1
                size += len(chunk)
                part_docs[part] += 1
                part_bytes[part] += len(chunk)
                if pending_bytes >= 1 << 20:
                    _flush(f, digest, pending)
                    pending_bytes = 0
                if progress and size >= next_report:
                    progress(size, cap)
                    next_report = size + report_every
                if capped:
                    break
            _flush(f, digest, pending)
            f.flush()
            os.fsync(f.fileno())
        if documents == 0 or size == 0:
            raise TinyGPTError(f"The source '{cfg.source}' gave no documents, so the corpus would be empty.",
                               "check that the file or dataset has text (and that sample= is not too small).")
        if progress:
            progress(size, cap)
        os.replace(tmp, corpus)
        fsync_dir(folder)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if made_folder:  # leave no empty folder behind for a source that failed at once
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    # Token shards made from an older corpus no longer match it.
    shutil.rmtree(folder / "shards", ignore_errors=True)
    parts: list[dict[str, Any]] = []
    if isinstance(source, MixtureSource):
        parts = [{"source": s.spec, "weight": round(w, 6), "documents": d, "bytes": b,
                  "share": round(b / size, 4)}
                 for (w, s), d, b in zip(source.parts, part_docs, part_bytes, strict=True)]
    seconds = time.perf_counter() - start
    info = {
        "name": name,
        "spec": cfg.source,
        "resolved": resolved,
        "description": source.describe(),
        "inputs": inputs,
        "seed": seed,
        "max_bytes": cap,
        "capped": capped,
        "documents": documents,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "parts": parts,
        "seconds": round(seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": True,
    }
    atomic_write_text(folder / "source.json", json.dumps(info, indent=2) + "\n")
    return PrepareResult(folder, info, False, seconds, parts)


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


def _flush(f: Any, digest: Any, pending: list[bytes]) -> None:
    if pending:
        data = b"".join(pending)
        digest.update(data)
        f.write(data)
        pending.clear()


def prepare_corpus(data: Path, cfg: DataConfig, progress: Progress | None = None) -> Path:
    """Prepare (or reuse) the corpus for ``cfg`` and return its folder, ``<data>/<dataset>``.

    The corpus itself is ``<folder>/corpus.txt``; its description is ``<folder>/source.json``.
    """
    return prepare(data, cfg, progress).path


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
        if info is None and not (folder / "corpus.txt").exists():
            continue
        out.append({
            "name": folder.name,
            "spec": (info or {}).get("spec", "?"),
            "documents": (info or {}).get("documents"),
            "bytes": (info or {}).get("bytes"),
            "complete": _is_complete(folder, info),
            "created": (info or {}).get("created"),
            "shards": [s["fingerprint"] for s in list_shard_sets(folder)],
        })
    return out


def dataset_info(data: Path, name: str) -> dict[str, Any]:
    """The source.json of a prepared dataset plus its paths and token shard sets; TinyGPTError if absent."""
    folder = Path(data) / name
    info = _read_source_json(folder) if folder.is_dir() else None
    if info is None and not (folder / "corpus.txt").exists():
        known = [d["name"] for d in list_datasets(data)]
        raise TinyGPTError(f"There is no prepared dataset named '{name}' in {data}.",
                           f"prepared datasets: {', '.join(known)}." if known else
                           "make one with: tinygpt data prepare --source storybook")
    out = dict(info or {"name": name, "complete": False})
    out.update(name=name, path=str(folder), corpus=str(folder / "corpus.txt"),
               complete=_is_complete(folder, info), shards=list_shard_sets(folder))
    return out
