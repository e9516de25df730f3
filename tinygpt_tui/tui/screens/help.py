"""F1 help: the slash commands and the keys of each screen, as a modal dialog."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

from ..guard import Guarded

HELP_KEYS = """\
## Keys

| where | key | does |
| --- | --- | --- |
| everywhere | `F1` | this help |
| everywhere | `ctrl+p` | command palette (every slash command, /load of each run) |
| everywhere | `ctrl+q` | quit (asks first while this app is training) |
| everywhere | `escape` | back to the previous screen |
| runs | `enter` / `e` | open the selected run in the generation explorer |
| runs | `n` | new run form |
| runs | `t` | training screen of the selected run |
| runs | `o` | open a Hugging Face model (hub id or local folder) in the explorer |
| runs | `r` | refresh the list |
| runs | `m` | rename the selected run (a dialog asks for the new name) |
| runs | `d` | delete the selected run (after a confirmation; not while it trains or is loaded) |
| new run | `ctrl+s` | create; `ctrl+t` create and train |
| training | `s` | start or resume training |
| training | `x` | stop training (a checkpoint is saved) |
| training | `e` | open the run in the explorer |
| training | `a` | loss chart's x axis: step → tokens seen → wall time |
| training | `l` | loss chart's y axis: linear ↔ log |
| explorer | `enter` | generate from the prompt (or score it in score mode) |
| explorer | `tab` | move focus: prompt → tokens → tabs |
| explorer | `←` `→` `home` `end` | select a token (or click one) |
| explorer | `v` / `F3` | view: clean text → [boundaries] → raw pieces → byte hex |
| explorer | `F2` | switch between generate and score mode |
| explorer | `ctrl+l` | clear the samples |
| explorer | `F4` / `F5` | vocabulary / attention of the selected token (`[` `]` head) |
| explorer | `F7` / `F8` | logit lens / the sampler's cuts of the selected token (`←` `→` token) |
| explorer | `F9` | time-lapse: the run's checkpoints on the prompt and the text in view (`,` `.` or `←` `→` checkpoint, `home` `end`) |
| explorer | `b` | branch: choose one of the selected token's alternatives (`↑` `↓`, `enter` or `b`, or click one) and continue from it |
| branches | `[` `]` / `p` | sibling branch / the parent branch, at the branch point |
| branches | `{` `}` | the previous / next sample's tree (each sample has its own) |
| vocabulary | type | filter tokens by piece, text, hex or id |
| vocabulary | click a header | sort: count, under-trained score (highest first), emb/med, head/med |
| explorer | `/versus RUN [TEXT]` | the text under the loaded run and RUN, disagreements first (`escape` back) |
"""


class HelpScreen(Guarded, ModalScreen[None]):
    """Commands (from commands.py's registry) and keys; escape, F1 or the button close it."""

    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close")]

    def __init__(self, commands_markdown: str) -> None:
        super().__init__()
        self.commands_markdown = commands_markdown

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            with VerticalScroll():
                yield Markdown("# tinygpt-tui help\n\n" + self.commands_markdown + "\n\n" + HELP_KEYS)
            yield Button("Close", id="help-close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
