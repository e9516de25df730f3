"""The time-lapse: one prompt, and one text, read by each checkpoint of a run's history.

A run's history (history.py) keeps the weights of past evaluations. Here each of them, a *frame*,
is loaded in turn into one model of the run's shape and

- writes a sample of a prompt through the product's one sampler (:func:`generate.generate`), with
  the same seed for every frame, so the frames differ only by the weights;
- scores a text through the product's one scoring (:func:`scoring.score_ids`, the windows
  ``tinygpt eval`` uses): a token × checkpoint matrix of surprisal, in bits.

Every frame's model is built, used and dropped in turn: only one copy of the weights is in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import runs
from .config import RunConfig, SamplingConfig, TinyGPTError
from .history import Frame, frames, load_frame

if TYPE_CHECKING:  # pragma: no cover
    from .model import GPT
    from .tokenizer import Tokenizer

DEFAULT_SEED = 0
"""The seed of every frame's sample when none is given."""


@dataclass(frozen=True)
class FrameSample:
    """What one checkpoint writes for the prompt."""

    step: int
    text: str
    tokens: int
    finish: str | None
    """Why the sample ended (``eot``, ``stop``, ``length``), as the sampler says."""


@dataclass(frozen=True)
class SurprisalMatrix:
    """A text's tokens read by each frame: ``bits[t][f]`` is the surprisal of token ``t`` under frame ``f``."""

    text: str
    ids: list[int]
    labels: list[str]
    """Each token as the faces show it (its text, or its piece)."""
    steps: list[int]
    """The frames' steps, oldest first (the columns)."""
    bits: list[list[float]]

    def mean(self, frame: int) -> float:
        """Mean surprisal of the text under frame ``frame``, in bits per token."""
        column = [row[frame] for row in self.bits]
        return sum(column) / len(column) if column else 0.0


def no_history(name: str) -> TinyGPTError:
    return TinyGPTError(
        f"Run '{name}' has no checkpoint history, so there is no time-lapse to show.",
        f"each evaluation from now on keeps one (train.history, default 24 checkpoints): train it more "
        f"(tinygpt train --run {name} --more 500, or /continue 500 in the app), or train a new run.")


class TimeLapse:
    """The frames of one run, and what each of them writes and reads."""

    def __init__(self, run: Path, device: str = "cpu"):
        from .checkpoint import check_vocab
        from .tokenizer import load_tokenizer

        self.run = run
        self.name = run.name
        self.cfg: RunConfig = runs.load_run_config(run)
        self.frames: list[Frame] = frames(run)
        if not self.frames:
            raise no_history(self.name)
        self.tok: Tokenizer = load_tokenizer(run / runs.TOKENIZER)
        check_vocab(self.cfg, self.tok, self.name)
        self.device = device

    @property
    def size(self) -> int:
        """Bytes the history takes on disk."""
        return sum(f.bytes for f in self.frames)

    def model(self, frame: int) -> GPT:
        """A model holding the weights of frame ``frame`` (an index into :attr:`frames`), in eval mode."""
        from .device import resolve_device
        from .model import GPT

        if not -len(self.frames) <= frame < len(self.frames):
            raise TinyGPTError(f"There is no frame {frame + 1}: the history keeps {len(self.frames)}.",
                               f"pick one from 1 to {len(self.frames)}.")
        model = GPT(self.cfg.model)
        load_frame(model, self.frames[frame])
        return model.to(resolve_device(self.device)).eval()

    # -- samples ---------------------------------------------------------------------------------
    def sample(self, frame: int, prompt: str, params: SamplingConfig,
               cancel: threading.Event | None = None) -> FrameSample:
        """What frame ``frame`` writes after ``prompt`` with ``params`` (first sample; the seed
        ``params.seed``, or :data:`DEFAULT_SEED` when unset, whatever the frame)."""
        from .generate import collect_text, generate

        params = replace(params, num_samples=1, seed=DEFAULT_SEED if params.seed is None else params.seed)
        records = list(generate(self.model(frame), self.tok, prompt, params, inspect=False, cancel=cancel))
        return FrameSample(self.frames[frame].step, collect_text(records), len(records),
                           records[-1].finish if records else None)

    def samples(self, prompt: str, params: SamplingConfig,
                cancel: threading.Event | None = None) -> Iterator[FrameSample]:
        """:meth:`sample` of every frame, oldest first."""
        for i in range(len(self.frames)):
            if cancel is not None and cancel.is_set():
                return
            yield self.sample(i, prompt, params, cancel)

    # -- surprisal -------------------------------------------------------------------------------
    def text_ids(self, text: str) -> list[int]:
        """The ids of ``text`` as scoring reads them (a document start left out)."""
        from .generate import doc_start_id, encode_prompt

        if not text:
            raise TinyGPTError("There is no text to read.", "give a text, e.g. --text 'Once upon a time'.")
        ids = encode_prompt(self.tok, text, what="text")
        return ids[1:] if doc_start_id(self.tok) is not None else ids

    def surprisal(self, text: str, cancel: threading.Event | None = None,
                  progress: Callable[[int], None] | None = None) -> SurprisalMatrix:
        """The surprisal of each token of ``text`` under each frame (``progress(i)`` after frame ``i``)."""
        from .scoring import score_ids

        ids = self.text_ids(text)
        columns: list[list[float]] = []
        labels: list[str] = []
        for i in range(len(self.frames)):
            if cancel is not None and cancel.is_set():
                raise TinyGPTError("The time-lapse was cancelled.")
            result = score_ids(self.model(i), self.tok, ids, alternatives=0, cancel=cancel)
            columns.append([r.surprisal_bits for r in result.records])
            if not labels:
                labels = [r.text or r.display or r.piece for r in result.records]
            if progress is not None:
                progress(i)
        bits = [[col[t] for col in columns] for t in range(len(ids))]
        return SurprisalMatrix(text, ids, labels, [f.step for f in self.frames], bits)


def open_timelapse(run: Path, device: str = "cpu") -> TimeLapse:
    """The time-lapse of the run in folder ``run`` (TinyGPTError when it has no history)."""
    return TimeLapse(run, device=device)
