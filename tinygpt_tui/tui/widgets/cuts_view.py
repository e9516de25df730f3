"""The sampler's cuts at the selected token: its distribution raw, after temperature, after top-k and
after top-p, with the tokens left, the mass each stage removed and where the chosen token stood
(computed by cuts.py, with the generation's settings, in a worker)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ...config import TinyGPTError
from ...present import prob_band
from .token_study import StudyRequest, TokenStudy, fit_alternatives


class CutsView(TokenStudy):
    """The sampler's stages at the selected token (F8)."""

    KEY = "F8"
    WHAT = "sampler's cuts"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Select a generated token (←/→ or a click) to see how the sampler cut its "
                         "distribution.", id=id)

    def compute(self, workbench: Any, request: StudyRequest) -> Any:
        if request.scored or request.params is None:
            raise TinyGPTError("A scored text was not sampled, so it has no sampler's cuts.",
                               "generate from a prompt (F2 goes back to generating) and select one of its tokens.")
        context = workbench.token_context(request.prompt, request.ids, request.index)
        return workbench.sampler_cuts(context, request.ids[request.index], request.params, top=4)

    def render_result(self, width: int) -> Text:
        cuts = self.result
        out = self.heading("cuts at token", "the sampler's distribution at each stage")
        for stage in cuts.stages:
            out.append(f"\n{stage.name:<11}", style="bold" if stage.applied else "dim")
            if not stage.applied:
                out.append(f" {stage.setting}: off", style="dim")
                continue
            if stage.setting:
                out.append(f" {stage.setting}")
            out.append(f"\n  {stage.tokens:,} left", style="")
            if stage.removed > 0:
                out.append(f" · cut {stage.removed:.1%}", style="yellow")
            if stage.rank:
                band = prob_band(stage.prob).colour
                out.append(" · p ")
                out.append(f"{stage.prob:.3f}", style=band)
                out.append(f" #{stage.rank}", style="bold" if stage.rank == 1 else "")
            else:
                out.append(" · the token was cut", style="red")
            out.append("\n  top", style="dim")
            fit_alternatives(out, stage.top, cuts.token, max(0, width - 6))
        out.append(f"\nkept {cuts.kept:.1%} of the mass after temperature; the last stage is what the "
                   "sampler drew from", style="dim")
        return out
