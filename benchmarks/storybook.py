"""How fast is the built-in story generator, and how varied is what it writes?

Measures, for one seed:

1. seconds to generate ``--mb`` MB (default 5) of stories in corpus format with
   :func:`tinygpt_tui.storybook.stories_text`, ``--repeats`` times (default 3): best and median, and
   the throughput of the best run. Aim: 5 MB in at most 10 s on two CPU cores (well below is better,
   because the machine may be shared).
2. ``prepare_corpus`` end to end for the default ``storybook`` source (generate + encode + sha256 +
   write + fsync + source.json) into a temporary data folder.
3. Variety of those 5 MB: stories, distinct stories, distinct first sentences, distinct hero names,
   distinct words, and words per story (min / median / max). When the real TinyStories sample sits
   beside the project (``../shared/data/tinystories/sample.txt``), its word counts are shown too.

    python benchmarks/storybook.py [--mb 5] [--repeats 3] [--seed 1337] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinygpt_tui import corpora, storybook  # noqa: E402
from tinygpt_tui.config import EOT, DataConfig  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tinystories" / "sample.txt"


def variety(docs: list[str]) -> dict[str, float]:
    words = [len(d.split()) for d in docs]
    names = set(storybook.GIRL_NAMES + storybook.BOY_NAMES + storybook.PET_NAMES)
    text = "\n".join(docs)
    return {
        "stories": len(docs),
        "distinct stories": len(set(docs)),
        "distinct first sentences": len({re.split(r"(?<=[.!?])\s", d, maxsplit=1)[0] for d in docs}),
        "distinct names": len({n for n in re.findall(r"\b[A-Z][a-z]+\b", text) if n in names}),
        "distinct words": len(set(re.findall(r"[a-z]+", text.lower()))),
        "words/story min": min(words),
        "words/story median": statistics.median(words),
        "words/story max": max(words),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=5.0, help="megabytes to generate (default 5)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n_bytes = int(args.mb * 1e6)

    times = []
    text = ""
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        text = storybook.stories_text(args.seed, n_bytes)
        times.append(time.perf_counter() - t0)
    best, median = min(times), statistics.median(times)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = corpora.prepare(Path(tmp), DataConfig(source="storybook", seed=args.seed))
        prepare_s = time.perf_counter() - t0

    docs = text.split(f"\n{EOT}\n")[:-1]
    report: dict[str, object] = {
        "megabytes": len(text.encode()) / 1e6,
        "generate best s": round(best, 3),
        "generate median s": round(median, 3),
        "MB/s (best)": round(len(text.encode()) / 1e6 / best, 2),
        "prepare_corpus s (5 MB default)": round(prepare_s, 3),
        "prepare_corpus MB": round(result.info["bytes"] / 1e6, 3),
        **variety(docs),
    }
    if SAMPLE.is_file():
        real = SAMPLE.read_text(encoding="utf-8").split(f"\n{EOT}\n")[:-1]
        w = [len(d.split()) for d in real]
        report["tinystories sample: words/story median"] = statistics.median(w)
        report["tinystories sample: distinct words"] = len(set(re.findall(r"[a-z]+", "\n".join(real).lower())))
    if args.json:
        print(json.dumps(report))
        return 0
    width = max(len(k) for k in report)
    print(f"storybook benchmark: seed {args.seed}, {args.repeats} repeats, {os.cpu_count()} CPUs")
    for key, value in report.items():
        shown = f"{value:,.3f}" if isinstance(value, float) and not float(value).is_integer() else f"{value:,}"
        print(f"  {key:<{width}}  {shown:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
