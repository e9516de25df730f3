"""Pilot tests of branching in the explorer: b and enter (or a click) on an alternative grow a branch,
[ ] and p move through the tree, /branches save and open keep it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fixtures_runs import new_app  # noqa: E402
from test_tui import bar_text, command, generate_seeded, open_explorer, wait_for  # noqa: E402

SIZE = (120, 40)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def other_alternative(record, avoid=()) -> int:
    """The position in ``record``'s alternatives of the first one that is neither it nor in ``avoid``."""
    return next(k for k, a in enumerate(record.alternatives) if a.id != record.id and a.id not in avoid)


async def branch_with_keys(pilot, pane, avoid=()) -> None:
    """b on the selected token, down to an alternative outside ``avoid``, enter; wait for the branch."""
    detail = pilot.app.screen.query_one("TokenDetail")
    count = len(pane.branch_tree.branches) if pane is not None and pane.branch_tree else 1
    await pilot.press("b")
    assert pilot.app.focused is detail
    want = other_alternative(detail.record, avoid)
    await pilot.press(*["down"] * (want - detail.cursor))
    assert detail.cursor == want
    await pilot.press("enter")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.query("BranchPane") and not screen.query_one("BranchPane").busy
                   and len(screen.query_one("BranchPane").branch_tree.branches) > count)


@pytest.mark.anyio
async def test_b_and_enter_branch_and_brackets_and_p_move_through_the_tree(runs_home):
    from tinygpt_tui.branches import BranchTree, grow

    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "Once upon", 12, at_least=5)
        sample = explorer.query_one("#sample-0")
        await pilot.press("tab", "right", "right", "right")  # token 3 (index 2)
        root_token = sample.records[2].id
        await branch_with_keys(pilot, None)
        pane = explorer.query_one("BranchPane")
        tree = pane.branch_tree
        first = tree.branches[1]
        assert (first.parent, first.position) == (0, 2) and first.records[0].id == first.token != root_token
        assert explorer.query_one("#explorer-tabs").active == "branches-pane"
        assert [r.id for r in pane.view.records] == [r.id for r in tree.sequence(1)]
        assert pane.view.selected == 2 and app.focused is pane.view
        # the branch is what the core grows from the same sample and alternative
        params = explorer._params_used
        again = BranchTree.start("Once upon", params, sample.records)
        grown = grow(app.workbench.model, app.workbench.tokenizer, again, 0, 2, first.token)
        assert [r.id for r in grown.records] == [r.id for r in first.records]
        info = str(explorer.query_one("#branch-info").content)
        assert "branch 1 of 2" in info and f"total ln P {tree.total_logprob(1):.3f}" in info and "#3" in info

        # a second alternative at the same token, from the branch view: a sibling of the first
        await branch_with_keys(pilot, pane, avoid=(root_token,))
        second = tree.branches[2]
        assert (second.parent, second.position) == (0, 2) and pane.current == 2
        await pilot.press("left_square_bracket")
        assert pane.current == 1 and [r.id for r in pane.view.records] == [r.id for r in tree.sequence(1)]
        assert pane.view.selected == 2  # at the branch point
        await pilot.press("right_square_bracket")
        assert pane.current == 2
        await pilot.press("right_square_bracket")
        assert pane.current == 2 and "No sibling branch that way." in bar_text(app)
        await pilot.press("p")
        assert pane.current == 0 and pane.view.selected == 2
        assert [r.id for r in pane.view.records] == [r.id for r in sample.records]
        await pilot.press("p")
        assert "This is the root" in bar_text(app)
        # escape from choosing an alternative goes back to the tokens
        await pilot.press("b")
        assert app.focused is explorer.query_one("TokenDetail")
        await pilot.press("escape")
        assert app.focused is pane.view


def alternative_offset(detail, k: int) -> tuple[int, int]:
    """Where alternative ``k`` is drawn in the detail panel (from the meta its cells carry)."""
    from textual.geometry import Region

    width, height = detail.size
    for y, strip in enumerate(detail.render_lines(Region(0, 0, width, height))):
        x = 0
        for segment in strip:
            if segment.style is not None and segment.style.meta.get("alt") == k:
                return x, y
            x += segment.cell_length
    raise AssertionError(f"alternative {k} is not drawn")


@pytest.mark.anyio
async def test_a_click_on_an_alternative_branches_and_the_tree_saves_and_opens(runs_home, tmp_path):
    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "Once upon", 10, at_least=4)
        await command(pilot, "/branches save nothing.json")
        assert "There is no branch tree yet." in bar_text(app)
        await pilot.press("tab", "right", "right")  # token 2 (index 1)
        detail = explorer.query_one("TokenDetail")
        k = other_alternative(detail.record)
        chosen = detail.record.alternatives[k].id
        await pilot.click(detail, offset=alternative_offset(detail, k))
        await wait_for(pilot, lambda: explorer.query("BranchPane") and explorer.query_one("BranchPane").branch_tree
                       and len(explorer.query_one("BranchPane").branch_tree.branches) == 2
                       and not explorer.query_one("BranchPane").busy)
        pane = explorer.query_one("BranchPane")
        assert pane.branch_tree.branches[1].token == chosen and pane.branch_tree.branches[1].position == 1

        saved = tmp_path / "tree.json"
        await command(pilot, f"/branches save {saved}")
        assert "Saved 2 branches" in bar_text(app) and saved.is_file()
        before = pane.branch_tree
        (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
        await command(pilot, f"/branches open {tmp_path / 'bad.json'}")
        assert "is not a branch tree of tinygpt" in bar_text(app) and pane.branch_tree is before
        await command(pilot, f"/branches open {saved}")
        await wait_for(pilot, lambda: pane.branch_tree is not before)
        assert pane.branch_tree == before and pane.current == 0
        await command(pilot, "/branches 1")
        assert pane.current == 1
        await command(pilot, "/branch 2 99")
        assert "alternatives shown, not 99" in bar_text(app)


@pytest.mark.anyio
async def test_each_sample_has_its_own_tree(runs_home, tmp_path):
    """Two samples: branching the second keeps the first's tree; { } and /branches sample S switch
    between them, each at the branch it was at; /branches save and open keep both."""
    import json

    from tinygpt_tui.branches import open_trees

    app = new_app(run="fixture")
    async with app.run_test(size=SIZE) as pilot:
        await open_explorer(pilot)
        explorer = app.screen
        await generate_seeded(pilot, "Once upon", 10, at_least=4, samples=2)
        first, second = explorer.query_one("#sample-0"), explorer.query_one("#sample-1")
        assert len(second.records) >= 2
        await pilot.press("tab", "right", "right")  # sample 1, token 2
        await branch_with_keys(pilot, None)
        pane = explorer.query_one("BranchPane")
        assert pane.trees.samples() == [0] and len(pane.branch_tree.branches) == 2

        # a token of the second sample: b starts that sample's own tree, the first one's stays
        explorer.query_one("#explorer-tabs").active = "samples-pane"
        await pilot.pause()
        second.focus()
        second.select(1)
        await pilot.pause()
        detail = explorer.query_one("TokenDetail")
        await pilot.press("b")
        await pilot.press(*["down"] * (other_alternative(detail.record) - detail.cursor), "enter")
        await wait_for(pilot, lambda: pane.trees.samples() == [0, 1] and not pane.busy
                       and len(pane.trees.trees[1].branches) == 2)
        trees = pane.trees
        assert trees.current == 1 and pane.current == 1
        assert len(trees.trees[0].branches) == 2  # kept
        assert [r.id for r in trees.trees[1].branches[0].records] == [r.id for r in second.records]
        assert [r.id for r in trees.trees[0].branches[0].records] == [r.id for r in first.records]
        assert trees.trees[1].params.seed == trees.trees[0].params.seed + 1  # the sample's own seed
        assert str(explorer.query_one("#branch-info").content).startswith("sample 2 · branch 1 of 2")
        listed = str(explorer.query_one("#branch-list").content)
        assert "sample 1" in listed and "sample 2" in listed

        # { } go to the other sample's tree, at the branch it was at
        await pilot.press("left_curly_bracket")
        assert trees.current == 0 and pane.current == 1
        assert [r.id for r in pane.view.records] == [r.id for r in trees.trees[0].sequence(1)]
        await pilot.press("left_curly_bracket")
        assert trees.current == 0 and "No other sample's tree that way." in bar_text(app)
        await pilot.press("p")  # the root of sample 1's tree
        await pilot.press("right_curly_bracket")
        assert trees.current == 1 and pane.current == 1
        await command(pilot, "/branches sample 1")
        assert trees.current == 0 and pane.current == 0  # where it was left: its root
        await command(pilot, "/branches sample 3")
        assert "Sample 3 has no branch tree" in bar_text(app) and trees.current == 0

        # save and open keep both trees and the one in view
        saved = tmp_path / "trees.json"
        await command(pilot, f"/branches save {saved}")
        assert "Saved 4 branches in 2 samples' trees" in bar_text(app)
        kept = open_trees(saved)
        assert json.loads(saved.read_text())["version"] == 2 and kept == trees
        await command(pilot, "/branches sample 2")
        await command(pilot, f"/branches open {saved}")
        await wait_for(pilot, lambda: pane.trees is not trees)
        assert pane.trees == kept and pane.trees.current == 0 and pane.current == 0
