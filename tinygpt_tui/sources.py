"""Where training text comes from: a source spec, parsed into one of the kinds of source.

Source specs (a string, as typed after ``--source``)::

    storybook                      the built-in story generator (offline, the default)
    storybook?seed=3               ... with its own seed (else the DataConfig seed)
    tinystories                    alias of hf:roneneldan/TinyStories?streaming=1
    hf:DATASET_ID?split=train&column=text&config=NAME&streaming=1
                                   any Hugging Face dataset with a text column; DATASET_ID may also be
                                   a local folder or file that ``datasets`` can read, or a folder saved
                                   with ``Dataset.save_to_disk``
    path/to/file.txt | .jsonl | .parquet | path/to/folder
                                   local files (a folder is read recursively, in sorted order)
    0.7*storybook + 0.3*data/wiki.jsonl
                                   a mixture: weights are normalised; a term without ``w*`` weighs 1

Options every source accepts: ``sample=0.1`` (keep a deterministic random 10% of documents),
``max_stories=N`` (stop after N documents) and ``seed=N``. File sources and ``hf:`` accept
``column=NAME``; ``hf:`` also takes ``split``, ``config`` and ``streaming``.

Text files hold documents separated by ``<|endoftext|>`` (the corpus format), or by blank lines when
the file has no such marker. JSONL and Parquet rows give one document each, from the column named
``text``, ``content``, ``story`` or ``document`` (in that order), else the first string column.

A mixture interleaves documents so that each source's share of the *bytes* follows its weight
(the source furthest behind its share goes next). It stops as soon as any finite source runs out,
so the shares stay what was asked for; infinite sources (``storybook``) never run out.

When no byte cap is given, a source that never ends (``storybook``, or a mixture of only such
sources) is capped at 5 MB (:data:`DEFAULT_INFINITE_BYTES`) by corpora.py, which writes a source's
documents into ``data/<dataset>/corpus.txt`` (corpus_build.py, resumably: a source reads on from a
saved position, see reading.py). The kinds of source (and the documents each yields) are in
source_kinds.py, the file readers in textfiles.py.
"""

from __future__ import annotations

import math
import os
import re
from urllib.parse import unquote

from .config import TinyGPTError
from .source_kinds import (
    HFSource,
    LocalSource,
    MixtureSource,
    Progress,
    Source,
    StorybookSource,
    expand_user,
)
from .textfiles import FILE_SUFFIXES

__all__ = ["DEFAULT_INFINITE_BYTES", "DEFAULT_SEED", "TERM", "MixtureSource", "Progress", "Source", "expand_user",
           "open_source", "split_terms"]

DEFAULT_INFINITE_BYTES = 5_000_000
"""Corpus size when no cap is given and the source never ends (e.g. ``storybook``)."""
DEFAULT_SEED = 1337
TINYSTORIES_ID = "roneneldan/TinyStories"
SPEC_HINT = ("use storybook, tinystories, hf:DATASET_ID, a path to a .txt/.jsonl/.parquet file or folder, "
             "or a mixture such as 0.7*storybook + 0.3*data/wiki.jsonl.")

_COMMON_OPTIONS = ("sample", "max_stories", "seed")



# --------------------------------------------------------------------------------------------------
# Spec parsing

TERM = re.compile(r"^\s*(?:(?P<w>[^*]*?)\s*\*\s*)?(?P<spec>\S.*?)\s*$")


def open_source(spec: str, seed: int = DEFAULT_SEED) -> Source:
    """Parse a source spec (see the module docstring) into a :class:`Source`; TinyGPTError if it is bad."""
    spec = (spec or "").strip()
    if not spec:
        raise TinyGPTError("The data source is empty.", SPEC_HINT)
    terms = split_terms(spec)
    if terms is not None:
        return _open_mixture(spec, terms, seed)
    return _open_single(spec, seed)


def split_terms(spec: str) -> list[str] | None:
    """The terms of a mixture (``w*spec + w*spec``), or None for a single source.

    A spec that names an existing path is never split, so a file called ``a+b.txt`` still works.
    """
    spec = spec.strip()
    if ("*" not in spec and "+" not in spec) or expand_user(spec.partition("?")[0]).exists():
        return None
    return re.split(r"\s*\+\s*", spec)


def _open_mixture(spec: str, terms: list[str], seed: int) -> Source:
    parts: list[tuple[float, Source]] = []
    for i, term in enumerate(terms):
        m = TERM.match(term)
        if not term.strip() or not m:
            raise TinyGPTError(f"The mixture '{spec}' has an empty term.", "write it like 0.7*storybook + 0.3*x.jsonl.")
        raw_w = m.group("w")
        weight = 1.0
        if raw_w is not None:
            try:
                weight = float(raw_w)
            except ValueError:
                raise TinyGPTError(f"'{raw_w}' in '{spec}' is not a weight.",
                                   "weights are positive numbers, like 0.7*storybook + 0.3*tinystories.") from None
            if not math.isfinite(weight) or weight <= 0:
                raise TinyGPTError(f"The weight {raw_w} in '{spec}' must be a positive number.",
                                   "drop a source instead of giving it weight 0.")
        # Each part gets its own seed so two storybook parts do not repeat each other.
        parts.append((weight, _open_single(m.group("spec"), seed + i)))
    if len(parts) == 1:
        return parts[0][1]
    return MixtureSource(spec, parts, seed)


def _open_single(spec: str, seed: int) -> Source:
    base, _, query = spec.partition("?")
    base = base.strip()
    options = _parse_options(spec, query)
    low = base.lower()
    if low == "storybook":
        _allow(spec, options, ())
        return StorybookSource(spec, options, seed)
    if low == "tinystories":
        _allow(spec, options, ("split", "column", "config", "streaming"))
        return HFSource(spec, TINYSTORIES_ID, options, seed, streaming_default=True)
    if low.startswith("hf:"):
        _allow(spec, options, ("split", "column", "config", "streaming"))
        return HFSource(spec, base[3:].strip(), options, seed)
    path = expand_user(base)
    if path.exists():
        _allow(spec, options, ("column",))
        if not os.access(path, os.R_OK):
            raise TinyGPTError(f"'{path}' cannot be read (permission denied).", "check the file's permissions.")
        return LocalSource(spec, path, options, seed)
    looks_like_path = ("/" in base or "\\" in base or base.startswith((".", "~"))
                       or path.suffix.lower() in FILE_SUFFIXES)
    if looks_like_path:
        raise TinyGPTError(f"The file or folder '{base}' does not exist.",
                           "check the path, or use --source storybook for the built-in stories.")
    raise TinyGPTError(f"Unknown data source '{spec}'.", SPEC_HINT)


def _parse_options(spec: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq or not key:
            raise TinyGPTError(f"The option '{pair}' in '{spec}' is not NAME=VALUE.",
                               "write options like hf:wikitext?config=wikitext-2-raw-v1&split=train.")
        options[key] = unquote(value.strip())
    return options


def _allow(spec: str, options: dict[str, str], extra: tuple[str, ...]) -> None:
    allowed = _COMMON_OPTIONS + extra
    for key in options:
        if key not in allowed:
            raise TinyGPTError(f"'{key}' is not an option of '{spec.partition('?')[0]}'.",
                               f"its options are: {', '.join(allowed)}.")
