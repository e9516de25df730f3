"""The command palette (ctrl+p): every slash command, and /load and /train for each run."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .slash import command_help

if TYPE_CHECKING:
    from .app import TinyGPTApp

# commands that need no argument and make sense from the palette
_PLAIN = ("help", "params", "tokens", "train", "stop", "new", "clear", "quit")


class SlashCommandProvider(Provider):
    """Offers the slash commands by name; choosing one runs it as if typed in the command bar."""

    @property
    def tinygpt(self) -> TinyGPTApp:
        return cast("TinyGPTApp", self.app)

    def _candidates(self) -> list[tuple[str, str]]:
        helps = command_help()
        out = [(f"/{name}", helps.get(name, "")) for name in _PLAIN if name in helps]
        for name in sorted(self.tinygpt.workbench.run_names()):
            out.append((f"/load {name}", f"open run {name} in the explorer"))
            out.append((f"/train {name}", f"train (or resume, or watch) run {name}"))
        return out

    async def discover(self) -> Hits:
        for line, help_text in self._candidates():
            yield DiscoveryHit(line, partial(self._run, line), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for line, help_text in self._candidates():
            score = matcher.match(line)
            if score > 0:
                yield Hit(score, matcher.highlight(line), partial(self._run, line), text=line, help=help_text)

    def _run(self, line: str) -> None:
        self.tinygpt.handle_command(line)
