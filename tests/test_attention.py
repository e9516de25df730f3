"""attention.py: attention maps of one sequence."""

from __future__ import annotations

import pytest

from tinygpt_tui.config import TinyGPTError
from tinygpt_tui.workbench import Workbench


@pytest.fixture
def workbench(runs_home, workspace) -> Workbench:
    bench = Workbench(workspace)
    bench.load("fixture")
    return bench


def test_attention_rows_are_causal_distributions(workbench):
    import numpy as np

    ids = workbench.prompt_ids("Once upon a time")
    maps = workbench.attention(ids)
    cfg = workbench.config.model
    n = len(ids)
    assert maps.weights.shape == (cfg.n_layer, cfg.n_head, n, n)
    assert maps.ids == ids and maps.cropped == 0
    assert "".join(maps.labels) == "Once upon a time"
    np.testing.assert_allclose(maps.weights.sum(axis=-1), 1.0, atol=1e-5)
    future = np.triu(np.ones((n, n), dtype=bool), k=1)  # key after query
    assert np.all(maps.weights[..., future] == 0.0)
    # the first position can only look at itself
    np.testing.assert_allclose(maps.weights[:, :, 0, 0], 1.0, atol=1e-6)


def test_attention_crops_to_the_context_window(workbench):
    block = workbench.config.model.block_size
    ids = workbench.prompt_ids("Once upon a time " * 4)[: block + 5]
    maps = workbench.attention(ids)
    assert maps.cropped == 5 and maps.ids == ids[5:]
    assert maps.weights.shape[-1] == block
    with pytest.raises(TinyGPTError):
        workbench.attention([])


def test_token_labels_show_partial_utf8_as_hex():
    from tinygpt_tui.attention import token_label
    from tinygpt_tui.tokenizer import CharTokenizer

    tok = CharTokenizer(list("ab"))
    assert [token_label(tok, i) for i in range(tok.vocab_size)][-2:] == ["a", "b"]
    assert token_label(tok, 0) == "<|endoftext|>"
