"""Everything a run needs before its first step: corpus -> tokenizer -> token shards.

:func:`prepare_data` builds what is missing and reuses what is there: the corpus of the run's data
source (sources), the run's tokenizer (trained once, saved as ``models/<run>/tokenizer.json``) and the
token shards of that corpus under that tokenizer (shards). Each stage announces itself with a
``stage`` event and reports ``progress`` at most five times a second; a stop request raises
:class:`Interrupted` at the next report, leaving nothing that looks complete (an interrupted corpus
is resumed by the next preparation, and says so in a ``stage`` event).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import runs
from .config import RunConfig
from .events import Event, Progress, Stage

if TYPE_CHECKING:  # pragma: no cover
    from .shards import ShardSet
    from .tokenizer import Tokenizer

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress events of a stage (the last one, done == total, always goes out)."""


class Interrupted(Exception):
    """Raised from a progress report to leave a preparation stage when a stop was asked for."""


def progress_reporter(stage: str, emit: Callable[[Event], None],
                      stop: threading.Event) -> Callable[..., None]:
    """A ``report(done, total=None)`` callback for a long stage: throttled progress events, and the
    place where a stop request interrupts the stage."""
    last = [0.0]

    def report(done: int, total: int | None = None) -> None:
        if stop.is_set():
            raise Interrupted
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL or (total is not None and done >= total):
            last[0] = now
            emit(Progress(stage=stage, done=int(done), total=total))
    return report


def prepare_data(run: Path, data: Path, cfg: RunConfig, tok: Tokenizer | None, *, resumed: bool,
                 emit: Callable[[Event], None], stop: threading.Event) -> tuple[Tokenizer, ShardSet]:
    """The tokenizer and token shards of the run in folder ``run``, building whatever is missing; the
    corpus and its shards live in the data folder ``data``.

    ``tok`` is the run's saved tokenizer, or None to train one. A new run whose configured vocabulary
    differs from its tokenizer's gets its ``config.json`` updated (``resumed`` runs keep theirs; the
    checkpoint was already checked against it).
    """
    from . import corpora, shards
    from .checkpoint import check_vocab
    from .tokenizer_training import train_tokenizer

    d = run
    emit(Stage(stage="corpus", message=f"preparing the corpus from {cfg.data.source}"))
    dataset_dir = Path(corpora.prepare_corpus(data, cfg.data, progress=progress_reporter("corpus", emit, stop),
                                              notice=lambda text: emit(Stage(stage="corpus", message=text))))
    corpus = dataset_dir / "corpus.txt"

    if tok is None:
        emit(Stage(stage="tokenizer",
                   message=f"training a {cfg.tokenizer.kind} tokenizer" if cfg.tokenizer.kind != "gpt2"
                   else "loading the GPT-2 tokenizer"))
        tok = train_tokenizer(cfg.tokenizer, corpus, progress=progress_reporter("tokenizer", emit, stop))
        tok.save(d / runs.TOKENIZER)
        if cfg.tokenizer.kind == "bpe" and tok.vocab_size < cfg.tokenizer.vocab_size:
            # BPE stops when no pair occurs often enough: a small corpus yields fewer tokens than asked
            emit(Stage(stage="tokenizer",
                       message=f"the corpus yields only {tok.vocab_size:,} tokens, not the "
                               f"{cfg.tokenizer.vocab_size:,} asked for: the vocabulary is {tok.vocab_size:,} "
                               f"(a larger corpus, or a smaller --vocab-size, would match)"))
    if not resumed and cfg.model.vocab_size != tok.vocab_size:
        cfg.model.vocab_size = tok.vocab_size
        runs.save_run_config(run, cfg)
    check_vocab(cfg, tok, run.name)

    emit(Stage(stage="shards", message="tokenizing the corpus into shards"))
    sdir = shards.shards_dir(dataset_dir, tok)
    # returns at once when complete shards of this corpus and tokenizer are already there
    shards.prepare_shards(corpus, tok, sdir, cfg.data.val_fraction, cfg.data.seed,
                          progress=progress_reporter("shards", emit, stop))
    return tok, shards.open_shards(sdir, tok)
