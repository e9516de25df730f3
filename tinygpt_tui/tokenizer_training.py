"""Training a tokenizer on a corpus: byte-level BPE (with HF ``tokenizers``) or character level.

:func:`train_tokenizer` builds the tokenizer a :class:`TokenizerConfig` describes (``gpt2`` is loaded,
not trained) from a corpus file; the result is served by the classes of :mod:`tokenizer` (tiktoken for
BPE, as nanochat does). BPE training reads a deterministic sample of at most ``train_bytes`` bytes,
spread over the whole corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .config import TinyGPTError, TokenizerConfig
from .corpus import check_corpus, iter_documents, sample_documents
from .tokenizer import BPETokenizer, CharTokenizer, Progress, Tokenizer, gpt2_tokenizer

TRAIN_BATCH_DOCS = 1000
"""Documents handed to the BPE trainer per batch."""



def train_tokenizer(cfg: TokenizerConfig, corpus_path: str | Path, progress: Progress | None = None,
                    *, out: str | Path | None = None, batch_docs: int = TRAIN_BATCH_DOCS) -> Tokenizer:
    """Build the tokenizer ``cfg`` describes from the corpus; save it atomically to ``out`` if given.

    ``progress(done_bytes, total_bytes)`` is called as text is fed. An exception raised there (or a
    KeyboardInterrupt) stops training and writes nothing.
    """
    corpus_path = Path(corpus_path)
    if cfg.kind == "gpt2":
        tok: Tokenizer = gpt2_tokenizer(cfg.special_tokens)
    else:
        size = check_corpus(corpus_path)
        if cfg.kind == "char":
            tok = _train_char(cfg, corpus_path, size, progress)
        else:
            tok = _train_bpe(cfg, corpus_path, size, progress, batch_docs)
    if out is not None:
        tok.save(out)
    return tok


def _train_char(cfg: TokenizerConfig, corpus_path: Path, size: int, progress: Progress | None) -> Tokenizer:
    # Every character must be seen (an unseen one would make shard encoding fail), so no byte cap here.
    chars: set[str] = set()
    docs = 0
    for doc, _nbytes, end in iter_documents(corpus_path):
        chars.update(doc)
        docs += 1
        if progress is not None and docs % 256 == 0:
            progress(end, size)
    if not chars:
        raise TinyGPTError(f"The corpus file {corpus_path} has no text between its separators.",
                           "prepare the dataset again.")
    if progress is not None:
        progress(size, size)
    return CharTokenizer(sorted(chars), cfg.special_tokens)


def _train_bpe(cfg: TokenizerConfig, corpus_path: Path, size: int, progress: Progress | None,
               batch_docs: int) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    total = size if cfg.train_bytes is None else min(size, cfg.train_bytes)
    fed = {"bytes": 0, "docs": 0}

    def batches() -> Iterator[list[str]]:
        batch: list[str] = []
        for doc, consumed in sample_documents(corpus_path, cfg.train_bytes):
            batch.append(doc)
            fed["bytes"] += consumed
            if len(batch) >= batch_docs:
                fed["docs"] += len(batch)
                yield batch
                batch = []
                if progress is not None:
                    progress(min(fed["bytes"], total), total)
        if batch:  # the last, partial batch: dropping it would lose the end of the corpus
            fed["docs"] += len(batch)
            yield batch
        if progress is not None:
            progress(total, total)

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=list(cfg.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,  # the caller shows progress through `progress`
    )
    hf.train_from_iterator(batches(), trainer=trainer)
    if fed["docs"] == 0:
        raise TinyGPTError(f"The corpus file {corpus_path} has no text between its separators.",
                           "prepare the dataset again.")
    return BPETokenizer(hf.to_str())
