"""Helpers shared by the tests of sources and prepared corpora: documents of a spec, JSONL files, a corpus."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tinygpt_tui.config import EOT
from tinygpt_tui.sources import open_source


def docs(spec: str, seed: int = 1337, n: int | None = None) -> list[str]:
    it = open_source(spec, seed).iter_documents()
    return list(itertools.islice(it, n) if n else it)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_corpus(folder: Path) -> list[str]:
    text = (folder / "corpus.txt").read_text(encoding="utf-8")
    parts = text.split(f"\n{EOT}\n")
    assert parts[-1] == ""
    return parts[:-1]
