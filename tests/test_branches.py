"""Branch trees: a branch continues exactly from its alternative, paths and total log-probabilities,
the JSON round trip, and files that are not trees."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from tinygpt_tui.branches import BranchTree, BranchTrees, grow, open_tree, open_trees
from tinygpt_tui.config import ModelConfig, SamplingConfig, TinyGPTError
from tinygpt_tui.generate import encode_prompt, generate
from tinygpt_tui.model import GPT
from tinygpt_tui.scoring import score_text
from tinygpt_tui.tokenizer import CharTokenizer

torch.set_num_threads(1)

CHARS = list("abcdefghijklmnopqrstuvwxyz .")
PROMPT = "once upon"


@pytest.fixture(scope="module")
def lm():
    """A micro GPT with seeded random weights, sharpened so its samples are not uniform noise, that
    never ends a document (every sample and branch runs its whole length: nothing depends on luck)."""
    tok = CharTokenizer(CHARS)
    torch.manual_seed(3)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=64, vocab_size=tok.vocab_size))
    with torch.no_grad():
        model.lm_head.weight.mul_(4.0)

    def no_eot(module, inputs, logits):
        logits[..., tok.eot_id] = -30.0
        return logits

    model.lm_head.register_forward_hook(no_eot)
    return model, tok


def root_tree(lm, tokens: int = 16, prompt: str = PROMPT) -> BranchTree:
    """A tree whose root is a whole sample (no <|endoftext|>, so its text re-encodes to the same ids)."""
    model, tok = lm
    params = SamplingConfig(seed=11, max_new_tokens=tokens, temperature=1.0, top_k=0, top_p=1.0)
    records = list(generate(model, tok, prompt, params))
    assert len(records) == tokens
    return BranchTree.start(prompt, params, records, run="micro")


def alternative(tree: BranchTree, bid: int, position: int, tok) -> int:
    """The most likely alternative at ``position`` that is neither the token there nor <|endoftext|>."""
    rec = tree.sequence(bid)[position]
    return next(a.id for a in rec.alternatives if a.id not in (rec.id, tok.eot_id))


def text_of(records) -> str:
    return "".join(r.text for r in records)


def test_a_branch_starts_with_its_alternative_and_goes_on_as_the_sampler_would(lm):
    model, tok = lm
    tree = root_tree(lm)
    position = 5
    alt = alternative(tree, 0, position, tok)
    branch = grow(model, tok, tree, 0, position, alt)

    assert branch.id == 1 and branch.parent == 0 and branch.position == position and branch.token == alt
    first = branch.records[0]
    assert first.id == alt and first.index == position
    # the forced token carries what the model gave it there: the probability the parent's
    # alternatives list showed for it at that position
    shown = next(a.prob for a in tree.branches[0].records[position].alternatives if a.id == alt)
    assert math.isclose(first.prob, shown, rel_tol=1e-4)
    assert first.logprob == pytest.approx(math.log(shown), abs=1e-4)
    assert [r.index for r in branch.records] == list(range(position, position + len(branch.records)))

    # the rest is what sampling from the extended prompt gives with the same seed: written as text
    # (a char tokenizer re-encodes it to the same ids), so this reference does not use branching at all
    extended = PROMPT + text_of(tree.branches[0].records[:position]) + tok.decode([alt])
    budget = tree.params.max_new_tokens - position - 1
    expected = list(generate(model, tok, extended, SamplingConfig(
        seed=tree.params.seed, max_new_tokens=budget, temperature=1.0, top_k=0, top_p=1.0)))
    assert [r.id for r in branch.records[1:]] == [r.id for r in expected]
    assert [r.logprob for r in branch.records[1:]] == pytest.approx([r.logprob for r in expected], abs=1e-4)
    # the branch keeps the sample's length budget: it ends where its parent ended
    assert len(tree.sequence(1)) == tree.params.max_new_tokens and branch.records[-1].finish == "length"


def test_the_forced_token_says_when_the_filters_had_cut_it(lm):
    model, tok = lm
    params = SamplingConfig(seed=1, max_new_tokens=3, top_k=1)
    ids = encode_prompt(tok, PROMPT)
    top = next(generate(model, tok, PROMPT, params)).id
    other = next(i for i in range(tok.vocab_size) if i not in (top, tok.eot_id))
    forced = list(generate(model, tok, "", params, context=ids, force=other))
    assert forced[0].id == other and forced[0].prob_sampled == 0.0 and forced[0].rank > 1
    assert forced[0].alternatives[0].id == top


def test_path_and_total_log_probability_along_nested_branches(lm):
    model, tok = lm
    tree = root_tree(lm, prompt="")  # a fresh document: generation starts from <|endoftext|>, as scoring does
    a = grow(model, tok, tree, 0, 3, alternative(tree, 0, 3, tok))
    b = grow(model, tok, tree, a.id, 8, alternative(tree, a.id, 8, tok))

    path = tree.path(b.id)
    assert [(p.branch, p.position, p.token) for p in path] == [(a.id, 3, a.token), (b.id, 8, b.token)]
    assert tree.path(0) == []
    root, own_a = tree.branches[0].records, a.records
    expected = (sum(r.logprob for r in root[:3]) + sum(r.logprob for r in own_a[: 8 - 3])
                + sum(r.logprob for r in b.records))
    assert tree.total_logprob(b.id) == pytest.approx(expected, abs=1e-9)
    # the same total, measured independently: score the branch's whole text under teacher forcing
    seq = tree.sequence(b.id)
    scored = score_text(model, tok, text_of(seq)).records
    assert [r.id for r in scored] == [r.id for r in seq]
    assert tree.total_logprob(b.id) == pytest.approx(sum(r.logprob for r in scored), abs=1e-3)

    # a branch at a position before b's branch point leaves the branch that owns that token
    c = grow(model, tok, tree, b.id, 5, alternative(tree, b.id, 5, tok))
    d = grow(model, tok, tree, b.id, 1, alternative(tree, b.id, 1, tok))
    assert c.parent == a.id and d.parent == 0
    # another alternative at b's own branch point is b's sibling, and b's parent's token there is no branch
    e_token = next(x.id for x in tree.sequence(b.id)[8].alternatives
                   if x.id not in (b.token, tree.sequence(a.id)[8].id))
    e = grow(model, tok, tree, b.id, 8, e_token)
    assert e.parent == a.id and [x.id for x in tree.siblings(e.id)] == [c.id, b.id, e.id]
    with pytest.raises(TinyGPTError, match="already is"):
        grow(model, tok, tree, b.id, 8, tree.sequence(a.id)[8].id)
    assert [x.id for x in tree.siblings(a.id)] == [d.id, a.id]  # by branch point
    assert [x.id for x in tree.children(a.id)] == [c.id, b.id, e.id]
    assert tree.sequence(c.id)[:5] == tree.sequence(a.id)[:5]


def test_branching_refuses_what_cannot_be_a_new_branch(lm):
    model, tok = lm
    tree = root_tree(lm)
    seq = tree.sequence(0)
    with pytest.raises(TinyGPTError, match="already is"):
        grow(model, tok, tree, 0, 2, seq[2].id)
    with pytest.raises(TinyGPTError, match="not in branch 0"):
        grow(model, tok, tree, 0, len(seq), 1)
    with pytest.raises(TinyGPTError, match="not in this vocabulary"):
        grow(model, tok, tree, 0, 2, tok.vocab_size)
    with pytest.raises(TinyGPTError, match="no branch 7"):
        grow(model, tok, tree, 7, 2, 1)
    alt = alternative(tree, 0, 2, tok)
    grow(model, tok, tree, 0, 2, alt)
    with pytest.raises(TinyGPTError, match="Branch 1 already"):
        grow(model, tok, tree, 0, 2, alt)
    assert len(tree.branches) == 2


def test_a_cancelled_branch_is_not_added(lm):
    model, tok = lm
    tree = root_tree(lm)
    cancel = threading.Event()
    cancel.set()
    assert grow(model, tok, tree, 0, 2, alternative(tree, 0, 2, tok), cancel=cancel) is None
    assert len(tree.branches) == 1


def test_the_json_round_trip_is_exact(lm, tmp_path):
    model, tok = lm
    tree = root_tree(lm)
    a = grow(model, tok, tree, 0, 4, alternative(tree, 0, 4, tok))
    grow(model, tok, tree, a.id, 9, alternative(tree, a.id, 9, tok))
    path = tmp_path / "sub" / "tree.json"
    tree.save(path)
    back = open_tree(path)
    assert back == tree  # every record, float for float
    assert back.to_dict() == tree.to_dict()
    assert back.total_logprob(2) == tree.total_logprob(2)
    assert json.loads(path.read_text())["version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["tree.json"]  # no temporary file left behind


def damaged(tree: BranchTree, change) -> dict:
    data = json.loads(json.dumps(tree.to_dict()))
    change(data)
    return data


def test_bad_and_foreign_files_are_refused_in_one_sentence(lm, tmp_path):
    model, tok = lm
    tree = root_tree(lm)
    grow(model, tok, tree, 0, 4, alternative(tree, 0, 4, tok))
    cases = {
        "missing": None,
        "not json": "{ nope",
        "binary": b"\x80\x81\xff",
        "foreign": json.dumps({"name": "something else"}),
        "a list": json.dumps([1, 2]),
        "future": json.dumps(damaged(tree, lambda d: d.update(version=99))),
        "bad params": json.dumps(damaged(tree, lambda d: d["params"].update(temperature=-1))),
        "params of another type": json.dumps(damaged(tree, lambda d: d["params"].update(top_k="many"))),
        "no branches": json.dumps(damaged(tree, lambda d: d.update(branches=[]))),
        "later parent": json.dumps(damaged(tree, lambda d: d["branches"][1].update(parent=5))),
        "off its parent": json.dumps(damaged(tree, lambda d: d["branches"][1].update(position=999))),
        "wrong first token": json.dumps(damaged(tree, lambda d: d["branches"][1].update(token=-3))),
        "record field missing": json.dumps(damaged(tree, lambda d: d["branches"][0]["records"][0].pop("logprob"))),
        "record field extra": json.dumps(damaged(tree, lambda d: d["branches"][0]["records"][0].update(x=1))),
        "record bytes": json.dumps(damaged(tree, lambda d: d["branches"][0]["records"][0].update(bytes="zz"))),
        "alternative": json.dumps(damaged(tree, lambda d: d["branches"][0]["records"][0].update(
            alternatives=[{"id": "x"}]))),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.json"
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        with pytest.raises(TinyGPTError) as err:
            open_tree(path)
        assert err.value.hint, name
        assert "\n" not in err.value.message and "Traceback" not in str(err.value), name


def test_a_tree_needs_a_seed_and_tokens(lm):
    with pytest.raises(TinyGPTError, match="seed"):
        BranchTree.start("x", SamplingConfig(seed=None), root_tree(lm).branches[0].records)
    with pytest.raises(TinyGPTError, match="no tokens"):
        BranchTree.start("x", SamplingConfig(seed=1), [])


# --------------------------------------------------------------------------------------------------
# a branch point inside a character


@pytest.fixture(scope="module")
def byte_lm():
    """A micro GPT over a byte-level BPE trained on ASCII text, so 'é' is two tokens (c3, a9)."""
    from tokenizers import ByteLevelBPETokenizer

    from tinygpt_tui.tokenizer import BPETokenizer

    bt = ByteLevelBPETokenizer()
    bt.train_from_iterator(["once upon a time there was a dog"] * 4, vocab_size=300,
                           special_tokens=["<|endoftext|>"], show_progress=False)
    tok = BPETokenizer(bt._tokenizer.to_str())
    torch.manual_seed(5)
    model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=tok.vocab_size))

    def no_eot(module, inputs, logits):
        logits[..., tok.eot_id] = -30.0
        return logits

    model.lm_head.register_forward_hook(no_eot)
    return model, tok


def test_a_branch_that_completes_a_split_character_shows_it_whole(byte_lm):
    model, tok = byte_lm
    lead, cont = tok.encode("é")  # c3 a9: the character is split over two tokens
    assert tok.token_bytes(lead) == b"\xc3"
    params = SamplingConfig(seed=4, max_new_tokens=6, temperature=1.0, top_k=0, top_p=1.0)
    # a sample whose first token is the character's first byte (forced: a random model rarely draws it)
    root = list(generate(model, tok, "once", params, force=lead))
    assert root[0].text == ""  # held back: the character is not finished
    tree = BranchTree.start("once", params, root)
    # branch at token 2 with a byte that finishes a character: é (a9), or è (a8) if the sample has a9
    finish = next(i for i in (cont, tok.encode("è")[1]) if i != root[1].id)
    branch = grow(model, tok, tree, 0, 1, finish)
    first = branch.records[0]
    assert first.text == bytes([0xC3, tok.token_bytes(finish)[0]]).decode("utf-8")  # not U+FFFD
    assert first.display == f"<{tok.token_bytes(finish).hex()}>"  # alone, its byte is still shown as hex
    seq = tree.sequence(branch.id)
    assert text_of(seq) == b"".join(r.bytes for r in seq).decode("utf-8", "replace")
    assert "é" in text_of(seq) or "è" in text_of(seq)

    # a token that does not finish it: the broken character shows as U+FFFD, as any invalid UTF-8
    other = grow(model, tok, tree, 0, 1, next(i for i in tok.encode(" a") if i != root[1].id))
    assert other.records[0].text.startswith("\ufffd")
    seq = tree.sequence(other.id)
    assert text_of(seq) == b"".join(r.bytes for r in seq).decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------------
# one tree per sample


def sample_trees(lm, samples: int = 3, tokens: int = 12) -> tuple[BranchTrees, SamplingConfig]:
    """The trees of a generation of several samples (each with its own seed, seed + sample)."""
    import dataclasses

    model, tok = lm
    params = SamplingConfig(seed=21, max_new_tokens=tokens, num_samples=samples, temperature=1.0, top_k=0, top_p=1.0)
    trees = BranchTrees()
    for k in range(samples):
        records = list(generate(model, tok, PROMPT, params, sample=k))
        trees.add(BranchTree.start(PROMPT, dataclasses.replace(params, seed=params.seed + k), records, sample=k))
    return trees, params


def test_each_sample_has_its_own_tree_that_branches_with_its_own_seed(lm):
    model, tok = lm
    trees, params = sample_trees(lm)
    assert trees.samples() == [0, 1, 2] and trees.current == 2
    assert [r.id for r in trees.select(0).branches[0].records] != [r.id for r in trees.trees[1].branches[0].records]
    one = trees.select(1)
    assert trees.tree is one and one.sample == 1
    alt = alternative(one, 0, 4, tok)
    branch = grow(model, tok, one, 0, 4, alt)
    # sample 1's branch goes on as sampling sample 1 would: with seed + 1, from its own tokens
    extended = PROMPT + text_of(one.branches[0].records[:4]) + tok.decode([alt])
    expected = list(generate(model, tok, extended, SamplingConfig(
        seed=params.seed + 1, max_new_tokens=params.max_new_tokens - 5, temperature=1.0, top_k=0, top_p=1.0)))
    assert [r.id for r in branch.records[1:]] == [r.id for r in expected]
    assert len(trees.trees[0].branches) == 1 and len(trees.trees[2].branches) == 1  # the others are untouched
    assert trees.branch_count() == 4

    # moving between the samples' trees
    assert trees.step(1).sample == 2 and trees.step(1) is None and trees.current == 2
    assert trees.step(-1).sample == 1
    del trees.trees[0]
    with pytest.raises(TinyGPTError, match=r"Sample 1 has no branch tree \(samples with one: 2, 3\)") as err:
        trees.select(0)
    assert "select a token of sample 1" in err.value.hint and trees.current == 1
    assert trees.step(-1) is None
    other = BranchTree.start("another prompt", params, one.branches[0].records, sample=0)
    with pytest.raises(TinyGPTError, match="another prompt than these"):
        trees.add(other)


def test_every_tree_saves_and_opens_with_the_sample_in_view(lm, tmp_path):
    model, tok = lm
    trees, _ = sample_trees(lm)
    for k in (0, 2):
        grow(model, tok, trees.trees[k], 0, 3, alternative(trees.trees[k], 0, 3, tok))
    trees.select(2)
    path = tmp_path / "trees.json"
    trees.save(path)
    back = open_trees(path)
    assert back == trees and back.current == 2 and back.tree.sample == 2
    assert json.loads(path.read_text())["version"] == 2
    assert open_tree(path) == trees.trees[2]  # a reader of one tree gets the one in view

    # a file of one tree (version 1) opens as a generation of one, its sample kept
    single = tmp_path / "one.json"
    trees.trees[2].save(single)
    assert json.loads(single.read_text())["version"] == 1
    one = open_trees(single)
    assert one.samples() == [2] and one.tree == trees.trees[2]
    # written before trees named their sample: the first sample
    data = json.loads(single.read_text())
    del data["sample"]
    single.write_text(json.dumps(data))
    assert open_trees(single).samples() == [0]


def test_damaged_files_of_several_trees_are_refused_in_one_sentence(lm, tmp_path):
    trees, _ = sample_trees(lm, samples=2, tokens=6)
    good = trees.to_dict()
    cases = {
        "no trees": {**good, "trees": []},
        "same sample twice": {**good, "trees": [good["trees"][0], good["trees"][0]]},
        "no tree in view": {**good, "current": 7},
        "current not a number": {**good, "current": True},
        "a bad tree": {**good, "trees": [good["trees"][0], {"format": "tinygpt-branches", "version": 1}]},
        "a bad sample": {**good, "trees": [{**good["trees"][0], "sample": -1}]},
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(TinyGPTError) as err:
            open_trees(path)
        assert err.value.hint, name
        assert "\n" not in err.value.message, name
