"""Documents out of local files: ``.txt`` (``<|endoftext|>``-separated, else blank-line separated),
``.jsonl`` and ``.parquet`` rows (one document each, from a text column), and folders of them.

The readers behind ``LocalSource`` in :mod:`sources`; each yields raw documents (``clean_document``
normalises line ends and removes stray separators) and turns a malformed file into one TinyGPTError.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from pathlib import Path

from .config import EOT, TinyGPTError

FILE_SUFFIXES = (".txt", ".jsonl", ".parquet")
TEXT_COLUMNS = ("text", "content", "story", "document")
"""Column names taken as the text, in this order, when no ``column=`` is given."""


def clean_document(doc: str) -> str:
    if "\r" in doc:
        doc = doc.replace("\r\n", "\n").replace("\r", "\n")
    if EOT in doc:
        doc = doc.replace(EOT, "")
    return doc.strip()


def folder_files(root: Path) -> list[Path]:
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.git, editor swap files) are not data
        if p.is_file() and p.suffix.lower() in FILE_SUFFIXES:
            files.append(p)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def has_marker(path: Path) -> bool:
    """Whether the file contains ``<|endoftext|>`` anywhere (a C-speed scan, no full read into Python)."""
    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(EOT.encode()) != -1


def read_txt(path: Path) -> Iterator[str]:
    """Documents separated by ``<|endoftext|>`` when the file has that marker, else by blank lines."""
    marker = has_marker(path)
    buf: list[str] = []
    try:
        with open(path, encoding="utf-8", newline=None) as f:
            for line in f:
                if marker:
                    if EOT in line:
                        pieces = line.split(EOT)
                        buf.append(pieces[0])
                        yield "".join(buf)
                        yield from pieces[1:-1]
                        buf = [pieces[-1]]
                    else:
                        buf.append(line)
                elif line.strip():
                    buf.append(line)
                elif buf:
                    yield "".join(buf)
                    buf = []
    except UnicodeDecodeError as e:
        raise TinyGPTError(f"'{path}' is not UTF-8 text (bad byte at position {e.start}).",
                           "save it as UTF-8, or use a .jsonl/.parquet file.") from None
    if buf:
        yield "".join(buf)


def choose_column(string_names: list[str]) -> str | None:
    for name in TEXT_COLUMNS:
        if name in string_names:
            return name
    lowered = {n.lower(): n for n in string_names}
    for name in TEXT_COLUMNS:
        if name in lowered:
            return lowered[name]
    return string_names[0] if string_names else None


def read_jsonl(path: Path, column: str | None) -> Iterator[str]:
    chosen = column
    first = True
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise TinyGPTError(f"Line {lineno} of '{path}' is not valid JSON ({e.msg}).",
                                       "each line of a .jsonl file must be one JSON object.") from None
                except RecursionError:
                    raise TinyGPTError(f"Line {lineno} of '{path}' is nested too deeply to read.",
                                       'each line should look like {"text": "..."}.') from None
                if not isinstance(row, dict):
                    raise TinyGPTError(f"Line {lineno} of '{path}' is not a JSON object.",
                                       'each line should look like {"text": "..."}.')
                if first:
                    first = False
                    if column is not None and column not in row:
                        raise TinyGPTError(f"'{path}' has no field '{column}'.", f"its fields are: {', '.join(row)}.")
                if chosen is None:
                    chosen = choose_column([k for k, v in row.items() if isinstance(v, str)])
                    if chosen is None:
                        raise TinyGPTError(f"'{path}' has no text field (line {lineno} has no string value).",
                                           'each line should look like {"text": "..."}, or name the field '
                                           "with ?column=NAME.")
                value = row.get(chosen)
                if isinstance(value, str):
                    yield value
    except UnicodeDecodeError as e:
        raise TinyGPTError(f"'{path}' is not UTF-8 text (bad byte at position {e.start}).",
                           "save it as UTF-8.") from None


def read_parquet(path: Path, column: str | None) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise TinyGPTError(f"'{path}' is not a readable Parquet file ({str(e).splitlines()[0][:120]}).",
                           "check that the file is complete and really Parquet.") from None
    schema = pf.schema_arrow
    names = list(schema.names)
    if column is not None:
        if column not in names:
            raise TinyGPTError(f"'{path}' has no column '{column}'.", f"its columns are: {', '.join(names)}.")
        chosen = column
    else:
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        chosen = choose_column(strings)
        if chosen is None:
            raise TinyGPTError(f"'{path}' has no text column.",
                               f"name one with ?column=NAME (its columns are: {', '.join(names)}).")
    try:
        for batch in pf.iter_batches(batch_size=1024, columns=[chosen]):
            for value in batch.column(0).to_pylist():
                if isinstance(value, str):
                    yield value
    except (pa.ArrowException, OSError) as e:
        raise TinyGPTError(f"'{path}' is damaged and could not be read to the end ({str(e).splitlines()[0][:120]}).",
                           "download or export the file again.") from None
