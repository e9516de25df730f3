"""Writing a source's documents into ``corpus.txt``, resumably: an interrupted preparation goes on.

The corpus grows append-only in ``corpus.txt.partial``; every :data:`CHECKPOINT_DOCUMENTS` documents,
:data:`CHECKPOINT_SECONDS` seconds or :data:`CHECKPOINT_BYTES` bytes (and when it is interrupted) the
new bytes are fsynced and then a small record, ``corpus.progress.json``, is replaced atomically: how
many documents and bytes are written, where the source's reader stands (reading.py) and what the
corpus is made from (its *identity*: the resolved spec, byte cap, seed and input files). A later
preparation with the same identity cuts the partial file back to the recorded size (whatever a kill
left after it goes) and reads on from the recorded position; another identity starts over, and says
so. Only a finished corpus is renamed to ``corpus.txt``; corpora.py writes the ``source.json`` that
marks it complete after that, so a partial corpus is never taken for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .atomic import atomic_write_text, fsync_dir
from .config import TinyGPTError
from .corpus import document_bytes, truncated_document
from .source_kinds import MixtureSource, Progress, Source

PARTIAL = "corpus.txt.partial"
"""The corpus while it is written (the finished one is renamed to ``corpus.txt``)."""
RECORD = "corpus.progress.json"
"""How far the partial corpus got, and from what; replaced atomically at each checkpoint."""
RECORD_VERSION = 1
CHECKPOINT_DOCUMENTS = 10_000
CHECKPOINT_SECONDS = 5.0
CHECKPOINT_BYTES = 16 << 20
REPORT_BYTES = 1 << 18
"""Bytes between two progress reports."""

Notice = Callable[[str], None]


@dataclass
class Built:
    """What :func:`build_corpus` wrote: counts, the corpus's sha256, and where it resumed (or None)."""

    documents: int
    bytes: int
    sha256: str
    capped: bool
    part_documents: list[int]
    part_bytes: list[int]
    resumed: dict[str, int] | None = None


@dataclass
class _Mark:
    """A checkpoint (what the record says) and the documents taken since, not yet on disk."""

    documents: int
    bytes: int
    part_documents: list[int]
    part_bytes: list[int]
    pending: list[tuple[int, bytes]] = field(default_factory=list)


def describe(documents: int, size: int) -> str:
    """'1,234 documents, 5.6 MB'."""
    return f"{documents:,} document{'s' if documents != 1 else ''}, {size / 1e6:.1f} MB"


def partial_progress(folder: Path) -> dict[str, Any] | None:
    """The record of an unfinished preparation in ``folder`` (documents, bytes, spec), or None."""
    record = _read_record(Path(folder))
    if record is None or not (Path(folder) / PARTIAL).exists():
        return None
    return record


def discard_partial(folder: Path) -> None:
    """Remove an unfinished corpus and its record (the record first: a partial file alone is ignored)."""
    (Path(folder) / RECORD).unlink(missing_ok=True)
    (Path(folder) / PARTIAL).unlink(missing_ok=True)


@contextmanager
def preparing(folder: Path, notice: Notice | None = None, progress: Progress | None = None) -> Iterator[None]:
    """Hold the folder while its corpus is prepared: a second preparer of the same dataset waits
    (saying so once) instead of appending to the same partial file. ``progress(0, None)`` is called
    while waiting, so a stop request raised from it ends the wait. Where the system has no ``flock``
    nothing is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and notice:
                    notice(f"another process is preparing {folder.name}; waiting for it to finish")
                told = True
                if progress:
                    progress(0, None)
                time.sleep(0.25)
            except OSError:  # a file system without flock
                break
        yield
    finally:
        os.close(fd)  # releases the flock


def build_corpus(folder: Path, source: Source, identity: dict[str, Any], cap: int | None, *,
                 spec: str, progress: Progress | None = None, notice: Notice | None = None) -> Built:
    """Write ``folder/corpus.txt`` from ``source`` (at most ``cap`` bytes), resuming an unfinished
    preparation of the same ``identity``. ``spec`` is the source as the user wrote it (for messages).

    An exception (Ctrl-C, a stop request raised from ``progress``, a network error) saves what is
    whole, so that the next call resumes; a source without documents raises TinyGPTError and leaves
    nothing behind. The caller marks the corpus complete afterwards.
    """
    folder = Path(folder)
    partial = folder / PARTIAL
    n_parts = len(source.parts) if isinstance(source, MixtureSource) else 1
    record = _resumable(folder, identity, n_parts, notice)
    digest = hashlib.sha256()
    if record is not None:
        with open(partial, "r+b") as f:
            f.truncate(record["bytes"])  # what a kill left past the last checkpoint goes
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        mark = _Mark(record["documents"], record["bytes"], list(record["part_documents"]),
                     list(record["part_bytes"]))
        reader = source.reader(record["position"])
        resumed = {"documents": mark.documents, "bytes": mark.bytes}
        if notice:
            notice(f"resuming the corpus at {describe(mark.documents, mark.bytes)}")
    else:
        partial.write_bytes(b"")
        mark = _Mark(0, 0, [0] * n_parts, [0] * n_parts)
        reader = source.reader()
        resumed = None
    base = {"version": RECORD_VERSION, "identity": identity, "spec": spec}
    capped = False
    with open(partial, "r+b") as f:
        try:
            if progress:
                progress(mark.bytes, cap)
            pending_bytes = 0
            next_report = mark.bytes + REPORT_BYTES
            last = time.monotonic()
            for part, doc in reader:
                chunk = document_bytes(doc)
                size = mark.bytes + pending_bytes
                if cap is not None and size + len(chunk) > cap:
                    capped = True
                    chunk = truncated_document(doc, cap) if mark.documents + len(mark.pending) == 0 else b""
                    if chunk:  # a single huge first document: keep what fits
                        mark.pending.append((part, chunk))
                    break
                mark.pending.append((part, chunk))
                pending_bytes += len(chunk)
                taken = len(mark.pending)
                if (taken >= CHECKPOINT_DOCUMENTS or pending_bytes >= CHECKPOINT_BYTES
                        or (taken % 64 == 0 and time.monotonic() - last >= CHECKPOINT_SECONDS)):
                    mark = _checkpoint(f, folder, mark, base, reader.position(), digest)
                    pending_bytes, last = 0, time.monotonic()
                if progress and size + len(chunk) >= next_report:
                    progress(size + len(chunk), cap)
                    next_report = size + len(chunk) + REPORT_BYTES
        except BaseException:
            # Keep what is whole for the next run: the documents taken since the checkpoint, when the
            # reader's position counts exactly those (an interrupt between the two keeps the checkpoint).
            if mark.pending and reader.handed() == mark.documents + len(mark.pending):
                try:
                    mark = _checkpoint(f, folder, mark, base, reader.position(), None)
                except Exception:  # the record of the last checkpoint still holds
                    pass
            if mark.documents == 0:  # nothing to resume: leave nothing behind
                discard_partial(folder)
            raise
        mark = _write(f, mark, digest)
        f.flush()
        os.fsync(f.fileno())
    if mark.documents == 0 or mark.bytes == 0:
        discard_partial(folder)
        raise TinyGPTError(f"The source '{spec}' gave no documents, so the corpus would be empty.",
                           "check that the file or dataset has text (and that sample= is not too small).")
    if progress:
        progress(mark.bytes, cap)
    os.replace(partial, folder / "corpus.txt")
    fsync_dir(folder)
    (folder / RECORD).unlink(missing_ok=True)
    return Built(mark.documents, mark.bytes, digest.hexdigest(), capped, mark.part_documents, mark.part_bytes,
                 resumed)


def _write(f: BinaryIO, mark: _Mark, digest: Any) -> _Mark:
    """``mark`` with its pending documents written at its offset (not yet fsynced)."""
    data = b"".join(chunk for _, chunk in mark.pending)
    f.seek(mark.bytes)
    f.truncate()
    f.write(data)
    if digest is not None:
        digest.update(data)
    docs, sizes = list(mark.part_documents), list(mark.part_bytes)
    for part, chunk in mark.pending:
        docs[part] += 1
        sizes[part] += len(chunk)
    return _Mark(mark.documents + len(mark.pending), mark.bytes + len(data), docs, sizes)


def _checkpoint(f: BinaryIO, folder: Path, mark: _Mark, base: dict[str, Any], position: dict[str, Any],
                digest: Any) -> _Mark:
    """Write and fsync the pending documents, then replace the record; returns the new mark."""
    new = _write(f, mark, digest)
    f.flush()
    os.fsync(f.fileno())
    record = dict(base, documents=new.documents, bytes=new.bytes, part_documents=new.part_documents,
                  part_bytes=new.part_bytes, position=position, updated=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write_text(folder / RECORD, json.dumps(record) + "\n")
    return new


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _resumable(folder: Path, identity: dict[str, Any], n_parts: int, notice: Notice | None) -> dict[str, Any] | None:
    """The record to resume from, or None after clearing whatever cannot be resumed (and saying why)."""
    record = _read_record(folder)
    partial = folder / PARTIAL
    try:
        have = partial.stat().st_size if partial.exists() else None
    except OSError:
        have = None
    why = None
    if record is not None and have is not None:
        try:
            documents, size = int(record["documents"]), int(record["bytes"])
            well_formed = (record.get("version") == RECORD_VERSION and isinstance(record.get("position"), dict)
                           and len(record["part_documents"]) == n_parts == len(record["part_bytes"]))
        except (KeyError, TypeError, ValueError):
            well_formed = False
        if not well_formed:
            why = "its progress record cannot be read"
        elif record.get("identity") != identity:
            why = f"it was begun from {record.get('spec', 'another source')} with other settings"
        elif have < size:
            why = "the file is shorter than its progress record says"
        elif documents > 0:
            return record
        if why and notice:
            notice(f"an unfinished corpus in {folder.name} is not resumed ({why}): starting over")
    discard_partial(folder)
    return None
