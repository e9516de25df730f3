"""Tokenizer and shard benchmarks on real text (run on demand, not part of the test suite).

Measures, on one corpus file (default ``../shared/data/tinystories/sample.txt``):

1. BPE training time at vocab 8192 through ``tinygpt_tui.tokenizer_training.train_tokenizer`` (reading the
   corpus, training, building the encoder, saving atomically) against calling HF ``tokenizers``
   directly with the same settings (read + split the file, train, save). Aim: overhead <= 10%.
2. Shard encoding throughput (MB of corpus per second) of ``prepare_shards`` (read, split, encode,
   write train.bin/val.bin/meta.json) against tiktoken's GPT-2 ``encode_ordinary_batch`` on the same
   documents already in memory (encoding only). Aim: ours at least as fast.
3. Whether the tiktoken-served encoder gives exactly the HF tokenizer's ids on every document.

Usage: ``TIKTOKEN_CACHE_DIR=/abs/path/shared/data/tiktoken python benchmarks/tokenizer.py [--json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinygpt_tui.config import EOT, TokenizerConfig  # noqa: E402
from tinygpt_tui.corpus import iter_documents  # noqa: E402
from tinygpt_tui.shards import prepare_shards  # noqa: E402
from tinygpt_tui.tokenizer import gpt2_tokenizer  # noqa: E402
from tinygpt_tui.tokenizer_training import train_tokenizer  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "tinystories" / "sample.txt"
DEFAULT_CACHE = ROOT.parent / "shared" / "data" / "tiktoken"


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    """Median wall time of ``repeats`` calls (after one warm-up call), all times, and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def raw_hf_train(corpus: Path, out: Path, vocab_size: int, specials: list[str]) -> None:
    """The same training, written directly against ``tokenizers``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = corpus.read_text(encoding="utf-8")
    docs = [d.strip("\n") for d in text.split(f"\n{EOT}\n") if d.strip()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((docs[i:i + 1000] for i in range(0, len(docs), 1000)), trainer=trainer,
                            length=len(docs))
    tok.save(str(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if not args.corpus.is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    if "TIKTOKEN_CACHE_DIR" not in os.environ and DEFAULT_CACHE.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(DEFAULT_CACHE)

    import tiktoken

    size = args.corpus.stat().st_size
    mb = size / 1e6
    specials = [EOT]
    cfg = TokenizerConfig(kind="bpe", vocab_size=args.vocab_size, special_tokens=specials, train_bytes=None)
    res: dict[str, object] = {"corpus": str(args.corpus), "corpus_bytes": size, "vocab_size": args.vocab_size,
                              "repeats": args.repeats, "cpus": os.cpu_count(), "python": platform.python_version(),
                              "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM", "(default)")}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        # 1. training. Interleave the two so a change in machine load hits both alike.
        ours_t, raw_t = [], []
        train_tokenizer(cfg, args.corpus, out=tmp / "ours.json")  # warm-up
        raw_hf_train(args.corpus, tmp / "raw.json", args.vocab_size, specials)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            raw_hf_train(args.corpus, tmp / "raw.json", args.vocab_size, specials)
            raw_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            tok = train_tokenizer(cfg, args.corpus, out=tmp / "ours.json")
            ours_t.append(time.perf_counter() - t0)
        same_vocab = (json.loads((tmp / "ours.json").read_text())["model"]["vocab"]
                      == json.loads((tmp / "raw.json").read_text())["model"]["vocab"])
        res["train"] = {"ours_s": statistics.median(ours_t), "raw_tokenizers_s": statistics.median(raw_t),
                        "ours_all": ours_t, "raw_all": raw_t, "same_vocabulary": same_vocab}
        res["train"]["overhead"] = res["train"]["ours_s"] / res["train"]["raw_tokenizers_s"] - 1

        # 2. encoding throughput, interleaved round by round so load changes hit every contender alike
        docs = [d for d, _, _ in iter_documents(args.corpus)]
        gpt2_enc = tiktoken.get_encoding("gpt2")
        gpt2 = gpt2_tokenizer()
        counter = iter(range(10**6))
        contenders = {
            "tiktoken_gpt2_encode_ordinary_batch": lambda: gpt2_enc.encode_ordinary_batch(docs),
            "ours_encode_documents_gpt2": lambda: gpt2.encode_documents(docs),
            "ours_shards_gpt2": lambda: prepare_shards(args.corpus, gpt2, tmp / f"g{next(counter)}", 0.01, 1337),
            "ours_shards_bpe": lambda: prepare_shards(args.corpus, tok, tmp / f"s{next(counter)}", 0.01, 1337),
        }
        times: dict[str, list[float]] = {k: [] for k in contenders}
        results: dict[str, object] = {}
        for k, fn in contenders.items():  # warm-up: thread pools, fingerprints, page cache
            results[k] = fn()
        for _ in range(args.repeats):
            for k, fn in contenders.items():
                t0 = time.perf_counter()
                results[k] = fn()
                times[k].append(time.perf_counter() - t0)
        hf = tok.hf_tokenizer()
        t_hf, _, hf_ids = timed(lambda: hf.encode_batch(docs), 1)
        meta_bpe, meta_g2 = results["ours_shards_bpe"], results["ours_shards_gpt2"]
        res["encode"] = {f"{k}_MBps": mb / statistics.median(v) for k, v in times.items()}
        res["encode"].update({
            "hf_tokenizers_encode_batch_bpe_MBps": mb / t_hf,
            "shard_tokens_bpe": meta_bpe["train_tokens"] + meta_bpe["val_tokens"],
            "shard_tokens_gpt2": meta_g2["train_tokens"] + meta_g2["val_tokens"],
            "tiktoken_tokens_gpt2": sum(map(len, results["tiktoken_gpt2_encode_ordinary_batch"])) + len(docs),
            "all_seconds": times,
        })
        # 3. consistency of the served encoder with HF on every document
        ours_ids = tok.encode_batch(docs)
        res["consistency"] = {"documents": len(docs),
                              "mismatched_documents": sum(a != b.ids for a, b in zip(ours_ids, hf_ids, strict=True))}

    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    tr, en = res["train"], res["encode"]
    print(f"corpus {args.corpus} ({mb:.2f} MB), {os.cpu_count()} CPUs, median of {args.repeats}")
    print()
    print(f"{'BPE training, vocab ' + str(args.vocab_size):44} {'seconds':>10}")
    print(f"{'  tokenizers directly (read, train, save)':44} {tr['raw_tokenizers_s']:10.3f}")
    print(f"{'  tinygpt train_tokenizer (same, atomic)':44} {tr['ours_s']:10.3f}")
    print(f"{'  overhead (aim <= 10%)':44} {100 * tr['overhead']:9.1f}%")
    print(f"{'  identical vocabulary':44} {str(tr['same_vocabulary']):>10}")
    print()
    print(f"{'Encoding throughput':44} {'MB/s':>10}")
    print(f"{'  tiktoken gpt2 encode_ordinary_batch':44} {en['tiktoken_gpt2_encode_ordinary_batch_MBps']:10.2f}")
    print(f"{'  tinygpt encode_documents, gpt2 (encode only)':44} {en['ours_encode_documents_gpt2_MBps']:10.2f}")
    print(f"{'  tinygpt prepare_shards, gpt2 (end to end)':44} {en['ours_shards_gpt2_MBps']:10.2f}")
    print(f"{'  tinygpt prepare_shards, bpe (end to end)':44} {en['ours_shards_bpe_MBps']:10.2f}")
    print(f"{'  HF tokenizers encode_batch, bpe':44} {en['hf_tokenizers_encode_batch_bpe_MBps']:10.2f}")
    print(f"{'  same gpt2 token count, shards vs tiktoken':44} "
          f"{str(en['shard_tokens_gpt2'] == en['tiktoken_tokens_gpt2']):>10}")
    c = res["consistency"]
    print()
    print(f"served encoder vs HF ids: {c['mismatched_documents']} of {c['documents']} documents differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
