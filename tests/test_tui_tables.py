"""The app's tables (runs, prompt breakdown, versus, vocabulary) size their columns from their cells
before a frame is drawn (tui/widgets/sized_columns.py)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tinygpt_tui.tui.widgets.sized_columns import cell_width, fill

COLUMNS = (("#", "index"), ("token", "text"))


@pytest.fixture
def anyio_backend():
    return "asyncio"


class OneTable(App):
    def compose(self) -> ComposeResult:
        yield DataTable()


def widths(table: DataTable) -> list[int]:
    return [c.get_render_width(table) - 2 * table.cell_padding for c in table.ordered_columns]


def test_a_cell_is_as_wide_as_the_terminal_cells_it_takes():
    assert cell_width(Text("Ġsoft")) == 5
    assert cell_width(123) == 3
    assert cell_width("漢字") == 4  # wide characters take two cells each


@pytest.mark.anyio
async def test_filled_columns_have_their_widths_before_the_table_is_next_idle():
    # an auto-width column is fitted to new rows only when the app is next idle, and a frame drawn
    # before then keeps the header at the label's width: fill gives the widths at once
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(DataTable)
        fill(table, COLUMNS, [])
        assert widths(table) == [1, 5]
        fill(table, COLUMNS, [(str(i), (i + 1, Text("x" * (i + 3)))) for i in range(120)])
        assert widths(table) == [3, 122]  # before any idle: no pause between the fill and this
        assert table.row_count == 120
        await pilot.pause()
        assert widths(table) == [3, 122]  # and the table keeps them once idle
        fill(table, COLUMNS, [("0", (1, Text("ab")))])
        assert widths(table) == [1, 5]  # a refill narrows them again
        assert [str(k.value) for k in table.rows] == ["0"]
