"""Corpus text -> token shards (``train.bin``, ``val.bin``, ``meta.json``) and training batches.

A corpus file (corpus.py) holds documents, each followed by a line ``<|endoftext|>``. Shards are flat arrays of
token ids (uint16 when the vocabulary fits, else uint32) in which every document is followed by the
end-of-text id. Documents go to train or val by a hash of (seed, document index), so the split is
deterministic, independent of chunking, and stable when a corpus grows at the end.

Preparation streams the corpus in chunks, writes each split through a temp file, renames the
finished files into place and writes ``meta.json`` (with ``"complete": true``) last. Starting a
preparation first removes any old ``meta.json``, so an interrupted run can never leave shards that
look complete; the next run simply starts over.

Which shard sets a dataset has is known here only (:func:`list_shard_sets`). torch is imported only
where batches are built, to keep this module light.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic import pid_temp_file, remove_orphaned_temp_files
from .config import TinyGPTError
from .corpus import CHUNK_BYTES, iter_documents

if TYPE_CHECKING:
    import torch

    from .tokenizer import Tokenizer

Progress = Callable[[int, "int | None"], None]

FORMAT_VERSION = 1
SPLITS = ("train", "val")


# --------------------------------------------------------------------------------------------------
# Preparing shards


def shards_dir(dataset_dir: str | Path, tok: Tokenizer) -> Path:
    """Where the shards of a dataset for a tokenizer live: ``<dataset>/shards/<fingerprint[:16]>``."""
    return Path(dataset_dir) / "shards" / tok.fingerprint()[:16]


def list_shard_sets(dataset_dir: str | Path) -> list[dict[str, Any]]:
    """The token shard sets of a dataset folder, by tokenizer fingerprint: ``fingerprint``,
    ``complete`` (its meta.json is there), ``files`` ({name: bytes} of the .bin files) and ``meta``."""
    root = Path(dataset_dir) / "shards"
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        meta = _read_meta(d)
        files = {f.name: f.stat().st_size for f in d.iterdir() if f.suffix == ".bin"}
        out.append({"fingerprint": d.name, "complete": meta is not None, "files": files, "meta": meta})
    return out


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65536), else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


_M64 = (1 << 64) - 1


def val_mask(seed: int, start: int, n: int, val_fraction: float) -> np.ndarray:
    """Which of documents ``start .. start+n-1`` go to val: a splitmix64 hash of (seed, index).

    Stateless, so the split of a document depends only on its index and the seed, never on how the
    corpus was chunked.
    """
    with np.errstate(over="ignore"):
        z = np.arange(start, start + n, dtype=np.uint64)
        z = z + np.uint64((seed * 0x9E3779B97F4A7C15) & _M64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < val_fraction


def _read_meta(out_dir: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((out_dir / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return meta if isinstance(meta, dict) else None


def _corpus_identity(corpus_path: Path) -> dict[str, Any]:
    st = corpus_path.stat()
    return {"path": str(corpus_path), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _up_to_date(meta: dict[str, Any] | None, out_dir: Path, tok: Tokenizer, corpus: dict[str, Any],
                val_fraction: float, seed: int) -> bool:
    if not meta or meta.get("complete") is not True or meta.get("format") != FORMAT_VERSION:
        return False
    if (meta.get("tokenizer_fingerprint") != tok.fingerprint() or meta.get("val_fraction") != val_fraction
            or meta.get("seed") != seed):
        return False
    old = meta.get("corpus") or {}
    if old.get("bytes") != corpus["bytes"]:
        return False
    if old.get("mtime_ns") != corpus["mtime_ns"]:
        # touched or copied: same content is still fine, checked by hash
        h = hashlib.sha256()
        with open(corpus["path"], "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        if h.hexdigest() != old.get("sha256"):
            return False
    return _files_match(meta, out_dir)


def _files_match(meta: dict[str, Any], out_dir: Path) -> bool:
    itemsize = np.dtype(meta.get("dtype", "uint16")).itemsize
    for split in SPLITS:
        p = out_dir / f"{split}.bin"
        if not p.is_file() or p.stat().st_size != int(meta.get(f"{split}_tokens", -1)) * itemsize:
            return False
    return True


def prepare_shards(corpus_path: str | Path, tok: Tokenizer, out_dir: str | Path, val_fraction: float = 0.01,
                   seed: int = 1337, progress: Progress | None = None) -> dict[str, Any]:
    """Encode a corpus file into ``out_dir/{train,val}.bin`` + ``meta.json``; returns the meta.

    Skips the work when ``out_dir`` already holds complete shards of the same corpus, tokenizer,
    split fraction and seed. ``progress(done_bytes, total_bytes)`` is called per chunk; an exception
    raised there (or a KeyboardInterrupt) stops the preparation and removes its partial files.
    """
    corpus_path = Path(corpus_path)
    out_dir = Path(out_dir)
    if not corpus_path.is_file():
        raise TinyGPTError(f"The corpus file {corpus_path} does not exist.",
                           "prepare a dataset first with `tinygpt data prepare`.")
    if not 0.0 < val_fraction < 0.5:
        raise TinyGPTError(f"val_fraction {val_fraction} is out of range.", "use a value between 0 and 0.5.")
    corpus = _corpus_identity(corpus_path)
    if _up_to_date(_read_meta(out_dir), out_dir, tok, corpus, val_fraction, seed):
        meta = _read_meta(out_dir)
        assert meta is not None
        return meta

    out_dir.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temp_files(out_dir)  # shard-sized leftovers of a killed preparation
    # Invalidate first: from here until the new meta.json lands, the folder never looks complete.
    (out_dir / "meta.json").unlink(missing_ok=True)
    dtype = dtype_for(tok.vocab_size)
    tmp = {s: _temp_file(out_dir, s) for s in SPLITS}
    counts = {s: {"tokens": 0, "bytes": 0, "documents": 0} for s in SPLITS}
    hasher = hashlib.sha256()
    started = time.time()
    try:
        files = {s: open(tmp[s], "wb") for s in SPLITS}  # noqa: SIM115 - closed in finally
        try:
            index = 0
            docs: list[str] = []
            sizes: list[int] = []  # UTF-8 bytes of each document's text
            pending = 0
            done = 0

            def flush() -> None:
                nonlocal index, docs, sizes, pending
                mask = val_mask(seed, index, len(docs), val_fraction)
                for split, chosen in (("train", ~mask), ("val", mask)):
                    picked = [d for d, c in zip(docs, chosen, strict=True) if c]
                    if not picked:
                        continue
                    ids = tok.encode_documents(picked)
                    ids.astype(dtype, copy=False).tofile(files[split])
                    c = counts[split]
                    c["tokens"] += len(ids)
                    c["documents"] += len(picked)
                    c["bytes"] += sum(n for n, ch in zip(sizes, chosen, strict=True) if ch)
                index += len(docs)
                docs, sizes, pending = [], [], 0

            for doc, nbytes, end in iter_documents(corpus_path, hasher=hasher):
                docs.append(doc)
                # the file's byte count is the text's, unless invalid UTF-8 was replaced by U+FFFD
                sizes.append(len(doc.encode("utf-8")) if "\ufffd" in doc else nbytes)
                pending += nbytes
                done = end
                if pending >= CHUNK_BYTES:
                    flush()
                    if progress is not None:
                        progress(done, corpus["bytes"])
            if docs:
                flush()
        finally:
            for f in files.values():
                f.flush()
                os.fsync(f.fileno())
                f.close()
        if counts["train"]["tokens"] + counts["val"]["tokens"] == 0:
            raise TinyGPTError(f"The corpus file {corpus_path} has no documents.",
                               "prepare the dataset again with more text.")
        split_method = "documents"
        if counts["val"]["documents"] == 0 or counts["train"]["documents"] == 0:
            split_method = _split_tail(tmp, counts, dtype, tok, val_fraction)
        for s in SPLITS:
            os.replace(tmp[s], out_dir / f"{s}.bin")
        if progress is not None:
            progress(corpus["bytes"], corpus["bytes"])
    except BaseException:
        for p in tmp.values():
            p.unlink(missing_ok=True)
        raise

    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "tokenizer_fingerprint": tok.fingerprint(),
        "tokenizer_kind": tok.kind,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": dtype.name,
        "val_fraction": val_fraction,
        "seed": seed,
        "split_method": split_method,
        "corpus": {**corpus, "sha256": hasher.hexdigest()},
    }
    for s in SPLITS:
        meta.update({f"{s}_tokens": counts[s]["tokens"], f"{s}_bytes": counts[s]["bytes"],
                     f"{s}_documents": counts[s]["documents"]})
    meta.update({"seconds": round(time.time() - started, 3), "created": time.time(), "complete": True})
    from .atomic import atomic_write_text

    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=2))  # last: marks the shards complete
    return meta


def _temp_file(out_dir: Path, split: str) -> Path:
    return pid_temp_file(out_dir, f"{split}.bin")


def _split_tail(tmp: dict[str, Path], counts: dict[str, dict[str, int]], dtype: np.dtype, tok: Tokenizer,
                val_fraction: float) -> str:
    """When the document split left one side empty (a corpus of very few documents), hold out the last
    ``val_fraction`` of the tokens instead. Such corpora are small, so reading them back is cheap."""
    full = "train" if counts["train"]["tokens"] else "val"
    data = np.fromfile(tmp[full], dtype=dtype)
    n_val = max(1, round(len(data) * val_fraction))
    if len(data) < 2:
        raise TinyGPTError("The corpus is too small to split into training and validation text.",
                           "add more text to the dataset.")
    parts = {"train": data[:-n_val], "val": data[-n_val:]}
    lengths = tok.byte_lengths()
    special = np.zeros(tok.vocab_size, dtype=bool)
    special[list(tok.special_tokens.values())] = True
    for s, arr in parts.items():
        arr.tofile(tmp[s])
        ids = arr.astype(np.int64)
        counts[s] = {"tokens": len(arr), "bytes": int(lengths[ids][~special[ids]].sum()),
                     "documents": int((ids == tok.eot_id).sum())}
    return "tokens"


# --------------------------------------------------------------------------------------------------
# Opening shards and sampling batches


@dataclass
class ShardSet:
    """Finished shards: ``train`` and ``val`` as read-only memmaps, and their ``meta``."""

    path: Path
    meta: dict[str, Any]
    train: np.ndarray
    val: np.ndarray

    def split(self, name: str) -> np.ndarray:
        if name not in SPLITS:
            raise ValueError(f"split must be 'train' or 'val', not {name!r}")
        return self.train if name == "train" else self.val


def _memmap(path: Path, dtype: np.dtype, n: int) -> np.ndarray:
    if n == 0:  # numpy cannot map an empty file
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(n,))


def open_shards(out_dir: str | Path, tok: Tokenizer | None = None) -> ShardSet:
    """Open finished shards; TinyGPTError when they are missing, incomplete, damaged, or were made with
    another tokenizer than ``tok``."""
    out_dir = Path(out_dir)
    meta = _read_meta(out_dir)
    if meta is None or meta.get("complete") is not True:
        what = "no token shards" if not (out_dir / "train.bin").exists() else "unfinished token shards"
        raise TinyGPTError(f"There are {what} in {out_dir}.",
                           "prepare them (again) with `tinygpt data prepare`; an interrupted preparation "
                           "starts over.")
    if tok is not None and meta.get("tokenizer_fingerprint") != tok.fingerprint():
        raise TinyGPTError(
            f"The shards in {out_dir} were made with another tokenizer ({meta.get('tokenizer_kind')}, "
            f"{meta.get('vocab_size')} tokens, fingerprint {str(meta.get('tokenizer_fingerprint'))[:16]}) "
            f"than this one ({tok.kind}, {tok.vocab_size} tokens, fingerprint {tok.fingerprint()[:16]}).",
            "prepare shards for this tokenizer (they go to <dataset>/shards/<fingerprint>), or use the "
            "tokenizer the shards were made with.",
        )
    if not _files_match(meta, out_dir):
        raise TinyGPTError(f"The shard files in {out_dir} do not match their meta.json (damaged or edited).",
                           "delete the folder and prepare the shards again.")
    dtype = np.dtype(meta["dtype"])
    arrays = {s: _memmap(out_dir / f"{s}.bin", dtype, int(meta[f"{s}_tokens"])) for s in SPLITS}
    return ShardSet(out_dir, meta, arrays["train"], arrays["val"])


class BatchSampler:
    """Random training windows: ``get(split, index)`` -> ``(x, y)`` long tensors of shape (B, T).

    The offsets come from ``np.random.default_rng((seed, split_id, index))``, so a batch depends only on
    (seed, split, index): resuming at step N needs nothing but N, and evaluation can reuse fixed indices
    to see the same validation batches every time.
    """

    def __init__(self, shards: ShardSet, block_size: int, batch_size: int, seed: int = 1337,
                 device: str | None = None, pin_memory: bool = False):
        self.shards = shards
        self.block_size = int(block_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.device = device
        self.pin_memory = pin_memory
        for s in SPLITS:
            n = len(shards.split(s))
            if n < self.block_size + 1:
                raise TinyGPTError(
                    f"The {s} split has {n} tokens, fewer than one window of block_size+1 = "
                    f"{self.block_size + 1}.",
                    "use a smaller block_size, more text, or a larger val_fraction.")

    def offsets(self, split: str, index: int) -> np.ndarray:
        """Start positions of the batch's windows (deterministic)."""
        data = self.shards.split(split)
        rng = np.random.default_rng((self.seed, SPLITS.index(split), int(index)))
        return rng.integers(0, len(data) - self.block_size, size=self.batch_size)

    def get_numpy(self, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
        data = self.shards.split(split)
        idx = self.offsets(split, index)[:, None] + np.arange(self.block_size + 1)
        window = np.asarray(data[idx], dtype=np.int64)  # (B, T+1)
        return np.ascontiguousarray(window[:, :-1]), np.ascontiguousarray(window[:, 1:])

    def get(self, split: str, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        xs, ys = self.get_numpy(split, index)
        x, y = torch.from_numpy(xs), torch.from_numpy(ys)
        if self.device is not None and str(self.device) != "cpu":
            if self.pin_memory and str(self.device).startswith("cuda"):
                x, y = x.pin_memory(), y.pin_memory()
            x = x.to(self.device, non_blocking=self.pin_memory)
            y = y.to(self.device, non_blocking=self.pin_memory)
        return x, y
