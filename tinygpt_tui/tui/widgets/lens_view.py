"""The logit lens of the selected token: per layer, how likely the chosen token was had the model
stopped there, its rank, and that layer's top predictions (computed by lens.py in a worker)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from ...config import TinyGPTError
from ...present import prob_band
from .token_detail import bar
from .token_study import StudyRequest, TokenStudy, fit_alternatives


class LensView(TokenStudy):
    """What each layer would have predicted at the selected token (F7)."""

    KEY = "F7"
    WHAT = "logit lens"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Select a token (←/→ or a click) to see what each layer would have predicted.", id=id)

    def compute(self, workbench: Any, request: StudyRequest) -> Any:
        if not request.ids:
            raise TinyGPTError("There is no token to look at.", "generate or score a text first.")
        context = workbench.token_context(request.prompt, request.ids, request.index, scored=request.scored)
        return workbench.logit_lens(context, request.ids[request.index], top=4)

    def render_result(self, width: int) -> Text:
        lens = self.result
        out = self.heading("lens of token", "p and rank of the token had the model stopped at each layer")
        settled = lens.settled
        if settled is None:
            out.append("never the top prediction at the last layer (sampled below the top)", style="yellow")
        elif settled == 0:
            out.append("the top prediction from the embedding on", style="green")
        else:
            out.append(f"the top prediction from layer {settled} on", style="green")
        if lens.cropped:
            out.append(f"\nthe window held the last {lens.context} tokens", style="dim")
        bar_width = max(4, min(16, width - 26))
        for layer in lens.layers:
            name = "emb" if layer.layer == 0 else f"L{layer.layer}"
            band = prob_band(layer.prob).colour
            out.append(f"\n{name:>4} ", style="bold" if layer.layer == settled else "")
            out.append(bar(layer.prob, bar_width), style=band)
            out.append(f" {layer.prob:.3f}", style=band)
            out.append(f"  #{layer.rank}", style="bold" if layer.rank == 1 else "")
            out.append("\n     top", style="dim")
            fit_alternatives(out, layer.top, lens.token, max(0, width - 8))
        return out
