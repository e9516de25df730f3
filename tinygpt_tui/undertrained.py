"""Under-trained tokens: which rows of a model's token matrices training barely moved.

The idea comes from Land & Bartolo (2024), "Fishing for Magikarp": a token that is rare or absent in
the training data keeps an embedding (and an unembedding row) close to where initialisation put it,
so the weights alone point at tokens the model never learned. They take the unembedding matrix,
remove the component every row shares (its first principal component) and compare what is left.

**The score here**, for each matrix that holds one row per token (the input embedding; the output
head as well when it is untied; a tied model has one matrix for both):

1. take each row's distance from the mean row, ``d_i = |W_i - mean(W)|``;
2. divide by the median distance: ``r_i`` is 1 for a typical token, near 0 for a row that is only
   the shared component;
3. ``under-trained = 1 - geometric mean of r_i over the matrices``.

So 0 means "as distinct as the median token", values near 1 mean "indistinguishable from the shared
component: training hardly wrote anything token-specific", and negative values mean "more distinct
than the median" (well trained, or simply frequent).

Why the distance from the mean row, not the raw norm, on this project's models:

- an input embedding row gets a gradient only when its token is read, and embeddings are not
  weight-decayed, so a token never read keeps its random initialisation (std 0.02) exactly, which is
  short next to a row that training wrote into;
- an output row of a token never predicted (untied head, or the tied matrix) is still pushed down by
  the softmax, but that push is (almost) the same for every such token: they all drift together. The
  drift makes those rows *longer* than used ones (measured on tied micro runs), so raw norms would call
  them the best trained. Subtracting the mean row removes the shared drift, and what remains is the
  initialisation, or nothing at all for a zero-initialised head (the modern recipe).

Limits, stated plainly: the score is relative (half of any vocabulary scores above 0, however well it
was trained); in the first steps, before training has moved rows past their initial scale, it is noise;
a frequent token with a generic role can score high, and a token seen a handful of times scores in
between; for a model from elsewhere (Hugging Face) the same arithmetic runs on its matrices, but its
initialisation and optimiser are unknown. How often each token occurs in the run's training shards is
the ground truth where the shards exist; faces show it beside the score, which needs only the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .tokenizer import Tokenizer

EXPLANATION = (
    "under-trained score: 1 - geometric mean of each token's embedding (and untied head) row distance "
    "from the mean row, over the median distance. 0 = a typical token; near 1 = training hardly moved "
    "it (Land & Bartolo 2024); below 0 = more distinct than most. Relative, from the weights alone: "
    "the count in the training shards is the ground truth."
)
"""One paragraph the faces show beside the score (screen, ``tinygpt vocab --help``)."""


def row_distances(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distance from the mean row, and that distance over the median one (float64)."""
    m = np.asarray(matrix, dtype=np.float64)
    dist = np.linalg.norm(m - m.mean(axis=0, keepdims=True), axis=1)
    median = float(np.median(dist)) if len(dist) else 0.0
    # every row equal (an untrained zero head): nothing is distinct, so every ratio is 0
    return dist, dist / max(median, 1e-12)


@dataclass
class UnderTrained:
    """Per-token measures of one model (arrays of length vocab_size, indexed by token id)."""

    tied: bool
    embedding: np.ndarray
    """Distance of each input embedding row from the mean row."""
    embedding_ratio: np.ndarray
    """``embedding`` over its median (1 = typical)."""
    head: np.ndarray | None
    """The same for the output head's rows; None when the head is the embedding (tied)."""
    head_ratio: np.ndarray | None
    score: np.ndarray
    """``1 - geometric mean of the ratios``: see the module docstring."""

    def ranking(self) -> np.ndarray:
        """Token ids, most under-trained first (ties by id, so the order is stable)."""
        ids = np.arange(len(self.score))
        return ids[np.lexsort((ids, -self.score))]

    def row(self, i: int) -> dict[str, Any]:
        """The measures of token ``i`` as JSON-friendly numbers."""
        out: dict[str, Any] = {"score": float(self.score[i]), "embedding_ratio": float(self.embedding_ratio[i])}
        out["head_ratio"] = None if self.head_ratio is None else float(self.head_ratio[i])
        return out


def from_matrices(embedding: np.ndarray, head: np.ndarray | None = None) -> UnderTrained:
    """The measures of an input embedding and, when untied, an output head (both vocab x C)."""
    emb, emb_ratio = row_distances(embedding)
    if head is None:
        return UnderTrained(True, emb, emb_ratio, None, None, 1.0 - emb_ratio)
    out, out_ratio = row_distances(head)
    n = min(len(emb), len(out))
    score = 1.0 - np.sqrt(emb_ratio[:n] * out_ratio[:n])
    return UnderTrained(False, emb[:n], emb_ratio[:n], out[:n], out_ratio[:n], score)


def token_matrices(model: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The input embedding and (untied) output head of one of our GPTs or a Hugging Face model."""
    hf = getattr(model, "hf", None)
    if hf is not None:
        emb, head = hf.get_input_embeddings().weight, hf.get_output_embeddings().weight
    else:
        emb, head = model.transformer.wte.weight, model.lm_head.weight
    tied = emb is head or emb.data_ptr() == head.data_ptr()
    as_array = lambda w: w.detach().float().cpu().numpy()  # noqa: E731 - two uses, one line
    return as_array(emb), None if tied else as_array(head)


def under_trained(model: Any) -> UnderTrained:
    """:func:`from_matrices` of a model's token matrices (milliseconds for small vocabularies)."""
    emb, head = token_matrices(model)
    return from_matrices(emb, head)


def under_trained_rows(tok: Tokenizer, measures: UnderTrained, counts: np.ndarray | None = None,
                       top: int = 20) -> list[dict[str, Any]]:
    """The ``top`` most under-trained tokens: id, piece, text, count in the shards (or None) and the
    measures of :meth:`UnderTrained.row`."""
    ids = [int(i) for i in measures.ranking() if i < tok.vocab_size][:top]
    return [{"id": i, "piece": tok.piece(i), "text": tok.token_text(i),
             "count": None if counts is None else int(counts[i]), **measures.row(i)} for i in ids]
