"""Tables to save: samples, the token records of a generation and a run's metrics, as rows, written
as JSON or CSV.

A row is a dict of plain values (text, numbers, None); the token rows' alternatives are a list, which
JSON keeps as it is and CSV spreads over numbered columns (``alt1_id``, ``alt1_piece``, ...). The
CSV is written by the :mod:`csv` module, so quotes, commas and newlines in tokens survive a round trip
through any CSV reader, and every cell is text to it: nothing written here is ever meant to be run or
evaluated. Files are written atomically (:mod:`atomic`) and an existing file is never replaced.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .atomic import atomic_create_bytes
from .config import TinyGPTError

KINDS = ("samples", "tokens", "metrics")
"""What can be saved."""
FORMATS = ("json", "csv")

METRIC_EVENTS = ("step", "eval")
"""The events of ``metrics.jsonl`` that carry measurements (the others are stages, samples, notes)."""


def _number(value: Any) -> Any:
    """NaN and infinities (not measured) as None: JSON has no NaN, and a CSV cell is then empty."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def sample_rows(prompt: str, records: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per sample of a generation from ``prompt``: its number (from 1), the prompt, the text it
    generated, how many tokens and how it ended."""
    by_sample: dict[int, list[Any]] = {}
    for r in records:
        by_sample.setdefault(r.sample, []).append(r)
    rows = []
    for sample in sorted(by_sample):
        recs = by_sample[sample]
        rows.append({"sample": sample + 1, "prompt": prompt, "text": "".join(r.text for r in recs),
                     "tokens": len(recs), "finish": recs[-1].finish or ""})
    return rows


def token_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per token record: sample and position (from 1), id, the token's text, piece, bytes in
    hex, probability, log-probability, surprisal, rank and the top alternatives (id, piece, text,
    probability each)."""
    rows = []
    for r in records:
        rows.append({
            "sample": r.sample + 1, "token": r.index + 1, "id": r.id, "text": r.display, "piece": r.piece,
            "bytes_hex": r.hex, "prob": _number(r.prob), "logprob": _number(r.logprob),
            "surprisal_bits": _number(r.surprisal_bits), "rank": r.rank,
            "alternatives": [{"id": a.id, "piece": a.piece, "text": a.text, "prob": _number(a.prob)}
                             for a in r.alternatives],
        })
    return rows


def metric_rows(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measurement event of a run's ``metrics.jsonl`` (steps and evaluations), with the
    columns of every such event, in the order they first appear."""
    picked = [e for e in events if e.get("event") in METRIC_EVENTS]
    columns: dict[str, None] = {}
    for e in picked:
        columns.update(dict.fromkeys(e))
    rows = []
    for e in picked:
        # the file is foreign: a nested value is kept as its JSON text, never interpreted
        rows.append({c: _scalar(e.get(c)) for c in columns})
    return rows


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return _number(value)


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its ``alternatives`` list spread over numbered columns, as CSV wants it."""
    flat = {k: v for k, v in row.items() if k != "alternatives"}
    for i, alt in enumerate(row.get("alternatives") or [], start=1):
        for key, value in alt.items():
            flat[f"alt{i}_{key}"] = value
    return flat


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV with a header; the columns are the union of the rows' keys in first-seen order
    (a token with fewer alternatives leaves the later ones empty). None is an empty cell."""
    flat = [flat_row(r) for r in rows]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    out = io.StringIO()
    # QUOTE_MINIMAL quotes a cell holding the delimiter, the quote or a character of the line
    # terminator: with CRLF (RFC 4180's), a lone CR in a token is quoted too, so no reader splits on it
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n", extrasaction="raise")
    writer.writeheader()
    for r in flat:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return out.getvalue()


def json_text(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a JSON array (UTF-8 text kept readable; no NaN: not-measured values are null)."""
    return json.dumps(list(rows), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def table_format(path: Path) -> str:
    """``json`` or ``csv``, from the file name's extension (TinyGPTError for any other)."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise TinyGPTError(f"Cannot tell the format of '{Path(path).name}' from its extension.",
                           "name the file .json or .csv, e.g. /save tokens tokens.csv.")
    return ext


def write_table(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` to a new file ``path`` as JSON or CSV (by its extension), atomically; refuses to
    replace an existing file. Returns the path written."""
    path = Path(path).expanduser()
    fmt = table_format(path)
    if path.exists() or path.is_symlink():
        raise TinyGPTError(f"{path} already exists; saving never replaces a file.",
                           "pick a new file name, or move the old file away first.")
    if not path.parent.is_dir():
        raise TinyGPTError(f"There is no folder {path.parent} to save {path.name} in.",
                           "create the folder first, or save elsewhere.")
    try:
        atomic_create_bytes(path, (csv_text(rows) if fmt == "csv" else json_text(rows)).encode("utf-8"))
    except FileExistsError:  # created by someone else since the check above
        raise TinyGPTError(f"{path} already exists; saving never replaces a file.",
                           "pick a new file name, or move the old file away first.") from None
    return path
