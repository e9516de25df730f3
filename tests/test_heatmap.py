"""heatmap.py: the token × checkpoint heat map, drawn in the project's surprisal colours."""

from __future__ import annotations

from tinygpt_tui.heatmap import cell_width, heatmap
from tinygpt_tui.present import surprisal_band
from tinygpt_tui.timelapse import SurprisalMatrix

MATRIX = SurprisalMatrix(text="ab\n", ids=[1, 2, 3], labels=["a", "[b]", "\n"], steps=[0, 10, 20],
                         bits=[[8.0, 4.0, 0.5], [7.0, 2.0, 1.5], [9.0, 9.0, 0.2]])


def test_rows_are_tokens_columns_checkpoints_and_the_current_one_is_marked():
    text = heatmap(MATRIX, 80, current=1)
    lines = text.plain.splitlines()
    assert lines[0].endswith("▼    step 10") and lines[0].count("▼") == 1
    assert lines[1].startswith("a    ") and lines[1].endswith("  4.0")  # the current frame's bits
    assert lines[2].startswith("[b]  ") and lines[3].startswith("↵")  # a newline is shown, not printed
    assert lines[4].startswith("mean") and lines[4].endswith(f"{(4.0 + 2.0 + 9.0) / 3:5.2f}")
    assert lines[5].split() == ["0", "20"]
    # each cell is coloured by the one surprisal scale: token a under the first checkpoint is surprising
    cells = [span for span in text.spans if text.plain[span.start:span.end].strip("█▐▌") == ""]
    first = next(s for s in cells if text.plain[s.start:s.end] == "██")
    assert first.style == surprisal_band(8.0).colour == "red"
    assert any(s.style == surprisal_band(0.2).colour == "green" for s in cells)


def test_a_narrow_terminal_gets_one_cell_per_checkpoint_and_rows_can_be_capped():
    assert cell_width(24, 80) == 2 and cell_width(40, 80) == 1
    text = heatmap(MATRIX, 80, rows=2)
    assert "… 1 more tokens" in text.plain and text.plain.splitlines()[0].endswith("step 20")
    # the default frame is the latest
    assert heatmap(MATRIX, 80).plain.splitlines()[1].endswith("  0.5")
