"""The generation explorer: type a prompt, watch tokens stream in, take any one of them apart.

Generation and scoring run in worker threads; the generation worker posts batches of token records
(at most one message per 30 ms, so a fast model cannot flood the event loop) tagged with a
generation number, and records of a superseded generation are dropped.

F5 opens the Attention tab (added on first use) for the selected token; its view computes the maps
in a worker of its own, one forward pass per selection, and drops an answer to a superseded selection
(widgets/attention_view.py). F7 (logit lens) and F8 (the sampler's cuts) open tabs of the same kind,
whose views run their own workers too (widgets/token_study.py). F9 opens the Time-lapse tab
(widgets/timelapse_view.py): the run's checkpoint history played back on the prompt and the text in view.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Header, Static, TabbedContent, TabPane, Tabs

from ...branches import BranchTree
from ...commands import format_params
from ...config import SamplingConfig, TinyGPTError
from ...present import PROB_BANDS, error_line, failure_line
from ..messages import GenerationFinished, TextScored, TokensGenerated
from ..widgets.attention_view import AttentionView
from ..widgets.branch_pane import BranchPane, branch_pane, pane_of
from ..widgets.breakdown_table import BreakdownTable
from ..widgets.command_bar import CommandBar
from ..widgets.cuts_view import CutsView
from ..widgets.footer import WorkbenchFooter
from ..widgets.lens_view import LensView
from ..widgets.timelapse_view import LapseRequest, TimelapseView
from ..widgets.token_detail import DetailPanel, TokenDetail
from ..widgets.token_study import StudyRequest, TokenStudy
from ..widgets.token_view import MODE_LABELS, MODES, TokenView
from .base import AppScreen

W = TypeVar("W", bound=Widget)
COALESCE_SECONDS = 0.03
NO_SELECTION = "Select a token in a sample (←/→ or a click), then F5, to see what it attended to."
STUDIES: dict[str, tuple[str, type[TokenStudy]]] = {"lens": ("Lens", LensView), "cuts": ("Cuts", CutsView)}
"""The per-token views F7 and F8 open, by name: their tab's title and widget."""


SCORE_HINT = ("Press F2 for score mode, paste a text and press enter: each token is coloured by how "
              "surprised the model is.")


NARROW = 110
"""Below this many columns the explorer's header takes a line more."""


class ExplorerScreen(AppScreen):
    """Prompt in, samples out (stacked, one per sample), a detail panel for the selected token."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "command", "Command", show=False),
        Binding("f2", "toggle_score", "Score mode"),
        Binding("f3", "cycle_view", "View"),
        Binding("f4", "vocab", "Vocabulary"),
        # not shown in the footer, which is full at 120 columns; the help screen and hints name it
        Binding("f5", "attention", "Attention", show=False),
        Binding("f6", "next_tab", "Next tab"),
        Binding("f7", "study('lens')", "Logit lens", show=False),
        Binding("f8", "study('cuts')", "Sampler's cuts", show=False),
        Binding("f9", "timelapse", "Time-lapse", show=False),
        Binding("b", "branch", "Branch", show=False),  # named in the help and the detail panel's hint
        Binding("ctrl+l", "clear", "Clear"),
    ]

    view_mode: reactive[str] = reactive("boundaries")
    score_mode: reactive[bool] = reactive(False)

    def __init__(self, run: str) -> None:
        super().__init__()
        self.run = run
        self.sub_title = run
        self.generation = 0
        self._cancel: threading.Event | None = None
        self._views: dict[int, TokenView] = {}
        self._labels: dict[int, Static] = {}
        self._notes: dict[int, str] = {}
        """The latest sampler note (prompt cropped, context slid) of each sample."""
        self._params_used: SamplingConfig | None = None
        self._prompt = ""
        self.last_prompt = ""
        self.busy = False
        self._source: TokenView | None = None
        """The token view whose selection the Attention tab follows."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="explorer-status", markup=False)
        with Horizontal(id="explorer-main"):
            with TabbedContent(id="explorer-tabs", initial="samples-pane"):
                with TabPane("Samples", id="samples-pane"):
                    with VerticalScroll(id="samples-scroll"):
                        yield Static("Type a prompt below and press enter; the tokens appear here as they "
                                     "are sampled.", id="samples-hint", markup=False)
                with TabPane("Prompt tokens", id="prompt-pane"):
                    yield Static("", id="breakdown-summary", markup=False)
                    yield BreakdownTable(id="breakdown-table")
                with TabPane("Score", id="score-pane"):
                    yield Static(SCORE_HINT, id="score-summary", markup=False)
                    with VerticalScroll(id="score-scroll"):
                        yield TokenView(id="score-view")
            yield DetailPanel(id="detail-column")
        yield CommandBar("Prompt, or /command (F1 help, F2 score mode)", id="command-bar")
        yield WorkbenchFooter()

    def on_mount(self) -> None:
        self.refresh_status()
        self.query_one(CommandBar).focus_input()
        # the tabs inside TabbedContent exist only after it has composed: adjust them then
        self.call_after_refresh(self._tune_focus_chain)

    def _tune_focus_chain(self) -> None:
        """Tab should go from the prompt straight to the tokens; F6 (or a click) switches tabs."""
        # queries, not query_one: after a refresh the screen may already have been left
        for tabs in self.query("#explorer-tabs Tabs").results(Tabs):
            tabs.can_focus = False
        for scroll in self.query("#samples-scroll, #score-scroll"):
            scroll.can_focus = False

    # -- status --------------------------------------------------------------------------------------
    def refresh_status(self) -> None:
        app = self.tinygpt
        workbench = app.workbench
        line = Text()
        line.append(f" {self.run} ", style="bold reverse")
        if workbench.loaded and workbench.run_name == self.run:
            cfg = workbench.config
            tok = workbench.tokenizer
            line.append(f"  {workbench.num_params() / 1e6:.2f}M params · {tok.kind} {tok.vocab_size} · "
                        f"context {cfg.model.block_size}  ")
        line.append(" SCORE " if self.score_mode else " GENERATE ",
                    style="bold black on yellow" if self.score_mode else "bold black on green")
        line.append(f"  view {MODE_LABELS[self.view_mode]}", style="")
        # a narrow terminal puts the colour legend on a line of its own; each line is cropped, never
        # wrapped, so the header keeps its height
        line.append("\n" if self.size.width < NARROW else "   ")
        line.append("p ")
        for band in PROB_BANDS:
            line.append("■", style=band.colour)
            label = f"<{band.high:.0%}" if band.high < 1 else f"≥{band.low:.0%}"
            line.append(f"{label} ", style="dim")
        line.append("\n")
        line.append(format_params(app.params), style="dim")
        line.no_wrap, line.overflow = True, "ellipsis"
        self.query_one("#explorer-status", Static).update(line)

    def on_resize(self) -> None:
        self.refresh_status()

    def watch_view_mode(self, mode: str) -> None:
        for view in self.query(TokenView):
            view.mode = mode
        if self.is_mounted:
            self.refresh_status()

    def watch_score_mode(self) -> None:
        if self.is_mounted:
            self.refresh_status()
            self.query_one(CommandBar).set_placeholder(
                "Text to score, or /command (F2 back to generating)" if self.score_mode
                else "Prompt, or /command (F1 help, F2 score mode)")
            if not self.query_one("#score-view", TokenView).records:  # a result stays as it is
                self.query_one("#score-summary", Static).update(
                "Score mode: paste or type a text below and press enter: each token is coloured by how "
                "surprised the model is. F2 goes back to generating." if self.score_mode else SCORE_HINT)
            self.query_one("#explorer-tabs", TabbedContent).active = "score-pane" if self.score_mode else "samples-pane"

    # -- prompts -------------------------------------------------------------------------------------
    @on(CommandBar.PromptEntered)
    def _prompt(self, message: CommandBar.PromptEntered) -> None:
        message.stop()
        text = message.text.replace("\\n", "\n")  # a typed \n stands for a newline
        if self.score_mode:
            self.score(text)
        else:
            self.generate(text)

    def generate(self, prompt: str) -> None:
        """Start sampling ``prompt`` (cancelling a generation still running)."""
        workbench = self.tinygpt.workbench
        if not workbench.loaded:
            self.tinygpt.say("No model is loaded. Hint: /load RUN.", error=True)
            return
        self.show_breakdown(prompt)
        params: SamplingConfig = self.tinygpt.params
        if params.seed is None:
            # draw the seed here so the status can show it and the user can repeat the call
            params = replace(params, seed=random.SystemRandom().randrange(2**31))
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = threading.Event()
        self.generation += 1
        self._params_used = params
        self._prompt = prompt
        self.last_prompt = prompt
        self.busy = True
        self._reset_samples()
        self.query_one("#explorer-tabs", TabbedContent).active = "samples-pane"
        self.tinygpt.say(f"Sampling {params.num_samples} × up to {params.max_new_tokens} tokens "
                     f"(seed {params.seed})…")
        self._generate_worker(self.generation, prompt, params, self._cancel)

    @work(thread=True, group="generate")
    def _generate_worker(self, generation: int, prompt: str, params: SamplingConfig,
                         cancel: threading.Event) -> None:
        workbench = self.tinygpt.workbench
        start = time.monotonic()
        last_post = start
        batch: list = []
        count = 0
        try:
            for record in workbench.generate(prompt, params, cancel):
                batch.append(record)
                count += 1
                now = time.monotonic()
                if now - last_post >= COALESCE_SECONDS:
                    self.post_message(TokensGenerated(generation, batch))
                    batch, last_post = [], now
            if batch:
                self.post_message(TokensGenerated(generation, batch))
        except Exception as err:  # a user error as its sentence; a bug said, never lost
            self.post_message(GenerationFinished(generation, failure_line(err, "Generation")))
            return
        self.post_message(GenerationFinished(generation, None, count, time.monotonic() - start))

    def _reset_samples(self) -> None:
        scroll = self.query_one("#samples-scroll", VerticalScroll)
        scroll.remove_children()
        self._views.clear()
        self._labels.clear()
        self._notes.clear()
        self._clear_detail()
        for view in self.query(AttentionView):
            view.show_note(NO_SELECTION)  # an answer still on its way is about the old samples
        for study in self.query(TokenStudy):
            study.show_note("Select a token (←/→ or a click) to look into it.")

    def _sample_label(self, sample: int) -> Text:
        view = self._views.get(sample)
        params = self._params_used
        n = len(view.records) if view else 0
        finish = view.records[-1].finish if view and view.records else None
        label = Text(f"sample {sample + 1}", style="bold")
        seed = "" if params is None or params.seed is None else f" · seed {params.seed + sample}"
        label.append(f"{seed} · {n} token{'s' if n != 1 else ''}", style="dim")
        if finish:
            label.append(f" · ended: {dict(eot='<|endoftext|>', stop='stop string', length='max_new_tokens').get(finish, finish)}",
                         style="dim")
        # the sampler's notes (prompt cropped, context window slid) concern the whole sample: show
        # the latest where it is seen without selecting the token that carries it
        note = self._notes.get(sample)
        if note:
            label.append(f" · {note}", style="yellow")
        return label

    @on(TokensGenerated)
    async def _tokens(self, message: TokensGenerated) -> None:
        if message.generation != self.generation:
            return  # a superseded generation
        by_sample: dict[int, list] = {}
        for record in message.records:
            by_sample.setdefault(record.sample, []).append(record)
        scroll = self.query_one("#samples-scroll", VerticalScroll)
        for sample, records in by_sample.items():
            view = self._views.get(sample)
            if view is None:
                label = Static("", classes="sample-label", markup=False)
                view = TokenView(self._prompt, id=f"sample-{sample}", classes="sample-view")
                view.mode = self.view_mode
                self._views[sample], self._labels[sample] = view, label
                await scroll.mount(label, view)
                if message.generation != self.generation or self._views.get(sample) is not view:
                    return  # cleared or superseded while the view was mounted
            for record in records:
                if record.note:
                    self._notes[sample] = record.note  # the latest, tracked as records arrive
            view.add_records(records)
            self._labels[sample].update(self._sample_label(sample))
        scroll.scroll_end(animate=False)

    @on(GenerationFinished)
    def _finished(self, message: GenerationFinished) -> None:
        if message.generation != self.generation:
            return
        self.busy = False
        for view in self._views.values():
            view.flush()  # the tokens that arrived since the view's last refresh
        if message.error:
            self.tinygpt.say(message.error, error=True)
            return
        for sample in self._views:
            self._labels[sample].update(self._sample_label(sample))
        rate = message.tokens / message.seconds if message.seconds > 0 else 0.0
        self.tinygpt.say(f"{message.tokens} tokens in {message.seconds:.2f}s ({rate:.0f} tokens/s). "
                     "Tab to the tokens, ←/→ to select one; F3 changes the view, F5 shows attention, b branches.")

    def sample_view(self, sample: int) -> TokenView | None:
        """The token view of sample ``sample`` (0-based) of the current generation, if it has one."""
        return self._views.get(sample)

    def cancel_generation(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        for pane in self.query(BranchPane):
            pane.cancel()

    # -- prompt breakdown ----------------------------------------------------------------------------
    def show_breakdown(self, text: str) -> None:
        workbench = self.tinygpt.workbench
        try:
            rows = workbench.breakdown(text) if text else []
        except TinyGPTError as err:
            self.query_one("#breakdown-summary", Static).update(Text(error_line(err)))
            return
        n_bytes = len(text.encode("utf-8"))
        self.query_one("#breakdown-summary", Static).update(
            f"{len(rows)} tokens for {n_bytes} bytes ({n_bytes / max(1, len(rows)):.2f} bytes per token) "
            f"with the {workbench.tokenizer.kind} tokenizer")
        self.query_one(BreakdownTable).set_breakdown(rows)

    # -- scoring -------------------------------------------------------------------------------------
    def score(self, text: str) -> None:
        workbench = self.tinygpt.workbench
        if not workbench.loaded:
            self.tinygpt.say("No model is loaded. Hint: /load RUN.", error=True)
            return
        self.show_breakdown(text)
        self.tinygpt.say("Scoring…")
        self.query_one("#explorer-tabs", TabbedContent).active = "score-pane"
        self._score_worker(text)

    @work(thread=True, exclusive=True, group="score")
    def _score_worker(self, text: str) -> None:
        try:
            result = self.tinygpt.workbench.score(text)
        except TinyGPTError as err:
            self.post_message(TextScored(text, error=error_line(err)))
            return
        self.post_message(TextScored(text, result))

    @on(TextScored)
    def _scored(self, message: TextScored) -> None:
        if message.error:
            self.tinygpt.say(message.error, error=True)
            return
        res = message.result
        view = self.query_one("#score-view", TokenView)
        view.set_records(res.records)
        # the detail panel showed a token of something else (a sample, or the previous text)
        self.query_one(DetailPanel).clear()
        if self._source is view:
            self._source = None
        view.mode = self.view_mode
        self.query_one("#score-summary", Static).update(
            f"{res.tokens} tokens, {res.bytes} bytes: {res.bits_per_byte:.3f} bits per byte, "
            f"mean surprisal {res.mean_surprisal_bits:.2f} bits, perplexity {res.perplexity:.1f}. "
            "Red tokens surprised the model, green ones it expected.")
        self.tinygpt.say("Scored. Tab to the text and use ←/→ to inspect each token.")

    # -- selection -----------------------------------------------------------------------------------
    def _clear_detail(self) -> None:
        """No token selected: the panel, its title and the attention's source are empty."""
        self.query_one(DetailPanel).clear()
        self._source = None

    @on(TabbedContent.TabActivated, "#explorer-tabs")
    def _tab_changed(self, message: TabbedContent.TabActivated) -> None:
        """The detail panel shows a token of the tab in view, never one of another tab."""
        pane = message.pane.id if message.pane is not None else None
        source = self._source
        if pane in ("attention-pane", "lens-pane", "cuts-pane", "timelapse-pane"):
            return
        if source is not None and pane == pane_of(source.id):
            return
        # the Branches tab's own selected token, if it has one (a branch opens with its branch point
        # selected, and its selection message may come after this one)
        selected = [v for v in self.query(TokenView)
                    if pane == "branches-pane" and pane_of(v.id) == pane and v.selected_record is not None]
        if not selected:
            if source is not None:
                self._clear_detail()
            return
        self._source = selected[0]
        self.query_one(DetailPanel).show_selection(selected[0])

    @on(TokenView.Edge)
    def _edge(self, message: TokenView.Edge) -> None:
        """←/→ past a sample's end go on in the next (previous) sample; ↑/↓ jump between samples."""
        samples = [self._views[k] for k in sorted(self._views)]
        if message.view not in samples:
            return
        i = samples.index(message.view) + message.delta
        if not 0 <= i < len(samples) or not samples[i].records:
            return  # the first or last sample: the selection stays
        target = samples[i]
        target.focus()
        if message.sample:
            target.select(min(max(message.view.selected, 0), len(target.records) - 1))
        else:
            target.select(0 if message.delta > 0 else -1)

    @on(TokenView.Selected)
    def _selected(self, message: TokenView.Selected) -> None:
        for view in self._views.values():  # one selection at a time, across the samples
            if view is not message.view and view.selected >= 0:
                view.selected = -1
        self.query_one(DetailPanel).show(message.view, message.record, message.index)
        self._source = message.view
        if self.query(AttentionView):
            self.request_attention()
        self.request_studies()

    # -- attention -----------------------------------------------------------------------------------
    def request_attention(self) -> None:
        """Have the Attention tab compute the selected token of the followed view (off the event loop)."""
        view = self.query_one(AttentionView)
        source = self._source
        record = source.selected_record if source is not None else None
        if record is None or source is None:
            view.show_note(NO_SELECTION)
            return
        # the sequence the model saw: the prompt's ids, then the tokens up to the selected one
        # (a scored text has no prompt: it starts from <|endoftext|>, as scoring does)
        ids = [r.id for r in source.records[: source.selected + 1]]
        view.follow(source.prompt, ids, record)

    @on(AttentionView.Step)
    @on(TokenStudy.Step)
    def _attention_step(self, message: AttentionView.Step | TokenStudy.Step) -> None:
        if self._source is not None and self._source.records:
            self._source.select(self._source.selected + message.delta)

    @on(TokenView.ModeCycled)
    def _mode_cycled(self, message: TokenView.ModeCycled) -> None:
        self.view_mode = message.mode

    # -- actions -------------------------------------------------------------------------------------
    def clear_samples(self) -> None:
        self.cancel_generation()
        self.generation += 1
        self._reset_samples()

    def action_back(self) -> None:
        """Escape: from the tokens (or the attention maps) back to the prompt; from there to the runs."""
        if isinstance(self.focused, TokenDetail) and self._source is not None:
            self._source.focus()  # from choosing an alternative back to the tokens
            return
        if isinstance(self.focused, TokenView | AttentionView | TokenStudy | TimelapseView):
            self.query_one(CommandBar).focus_input()
            return
        self.cancel_generation()
        self.tinygpt.show_runs()

    def action_toggle_score(self) -> None:
        self.score_mode = not self.score_mode
        self.query_one(CommandBar).focus_input()  # the next thing to do is to type (or paste) a text
        self.tinygpt.say("Score mode: enter a text to see how surprising each token is." if self.score_mode
                     else "Generate mode: enter a prompt to sample a continuation.")

    def action_cycle_view(self) -> None:
        self.view_mode = MODES[(MODES.index(self.view_mode) + 1) % len(MODES)]

    def action_vocab(self) -> None:
        self.tinygpt.show_vocab()

    async def action_attention(self) -> None:
        """Open the Attention tab (adding it the first time); from it, go back to the tokens."""
        if await self._open_tab("attention", "Attention", AttentionView):
            self.request_attention()

    async def _open_tab(self, kind: str, title: str, widget: type[W], toggle: bool = True) -> W | None:
        """Show tab ``kind`` (``#{kind}-pane``, its view ``#{kind}-view`` a ``widget``) and focus its view;
        with ``toggle``, when that tab is already in view go back to the tokens instead (None). The tab
        is added on first use, so the explorer looks as before until its view is asked for."""
        tabs = self.query_one("#explorer-tabs", TabbedContent)
        if toggle and tabs.active == f"{kind}-pane":
            self._back_to_tokens()
            return None
        if not self.query(f"#{kind}-view"):
            scroll = VerticalScroll(widget(id=f"{kind}-view"), id=f"{kind}-scroll")
            scroll.can_focus = False
            await tabs.add_pane(TabPane(title, scroll, id=f"{kind}-pane"))
            self._tune_focus_chain()
        tabs.active = f"{kind}-pane"
        view = self.query_one(f"#{kind}-view", widget)
        view.focus()
        return view

    def _back_to_tokens(self) -> None:
        """From a view of the selected token back to the tab of its tokens, focus on them."""
        self.query_one("#explorer-tabs", TabbedContent).active = pane_of(
            self._source.id if self._source is not None else None)
        if self._source is not None:
            self._source.focus()

    async def action_study(self, kind: str) -> None:
        """F7/F8: open the tab of the logit lens / the sampler's cuts (added on first use); from it, back."""
        view = await self._open_tab(kind, *STUDIES[kind])
        if view is not None:
            self._follow(view)

    async def action_timelapse(self, text: str | None = None) -> None:
        """F9 (or /timelapse [TEXT]): the run's checkpoints played back on the prompt and the text in view
        (``text`` instead, when given), in a tab added on first use; F9 from it goes back."""
        view = await self._open_tab("timelapse", "Time-lapse", TimelapseView, toggle=text is None)
        if view is None:
            return
        params = self._params_used or self.tinygpt.params
        view.open(LapseRequest(self.run, self.last_prompt, self.text_in_view() if text is None else text, params))

    def text_in_view(self) -> str:
        """The text the time-lapse reads: the scored text when the Score tab holds one and is in view
        (or nothing was generated), else the prompt and the first sample, else the prompt."""
        scored = self.query_one("#score-view", TokenView)
        sample = self._views.get(0)
        if scored.records and (self.score_mode or sample is None or not sample.records):
            return "".join(r.text for r in scored.records)
        return self.last_prompt + ("".join(r.text for r in sample.records) if sample is not None else "")

    def request_studies(self) -> None:
        for view in self.query(TokenStudy):
            self._follow(view)

    def _follow(self, view: TokenStudy) -> None:
        """Point ``view`` at the selected token of the followed token view (it computes in a worker)."""
        source = self._source
        record = source.selected_record if source is not None else None
        if source is None or record is None:
            view.show_note("Select a token in a sample (←/→ or a click) to look into it.")
            return
        view.follow(StudyRequest(source.prompt, [r.id for r in source.records], source.selected, record,
                                 scored=source.id == "score-view", params=self._params_used))

    def action_next_tab(self) -> None:
        tabs = self.query_one("#explorer-tabs", TabbedContent)
        panes = ["samples-pane", "prompt-pane", "score-pane"]
        panes += [p for p in ("attention-pane", "branches-pane") if self.query(f"#{p}")]
        panes += [f"{kind}-pane" for kind in (*STUDIES, "timelapse") if self.query(f"#{kind}-view")]
        tabs.active = panes[(panes.index(tabs.active) + 1) % len(panes)] if tabs.active in panes else panes[0]

    def action_clear(self) -> None:
        self.clear_samples()

    # -- branches ------------------------------------------------------------------------------------
    def current_source(self) -> TokenView | None:
        """The token view the detail panel follows: the focused view when it has a selection (a branch
        view just grown and selected, whose selection message may still be on its way), else the last
        selection, else the active tab's own view (a branch shown by /branches N) so that commands that
        name a position still find it."""
        focused = self.focused
        if isinstance(focused, TokenView) and focused.selected_record is not None:
            return focused
        if self._source is not None:
            return self._source
        pane = self.query_one("#explorer-tabs", TabbedContent).active
        return next((v for v in self.query(TokenView) if pane_of(v.id) == pane and v.records), None)

    def action_branch(self) -> None:
        """b: choose one of the selected token's alternatives in the detail panel (enter branches)."""
        source = self.current_source()
        if source is not None and source is not self._source and source.selected_record is not None:
            self._source = source
            self.query_one(DetailPanel).show_selection(source)
        if source is None or source.selected_record is None or source.id == "score-view":
            self.tinygpt.say("Select a generated token first (←/→ or a click), then press b.", error=True)
        elif not self.query_one(DetailPanel).detail.choose():
            self.tinygpt.say("This token has no alternatives (/params alternatives=5 keeps some).", error=True)

    @on(TokenDetail.Branch)
    async def _branch(self, message: TokenDetail.Branch) -> None:
        await self.branch_from(message.record, message.alternative.id)

    async def branch_from(self, record, token: int) -> None:
        """Continue from ``token`` instead of ``record`` (a token of the view the detail panel follows)
        as a new branch: of the sample's tree (started here), or of the branch in view."""
        source, params = self.current_source(), self._params_used
        if source is None or source.id == "score-view" or params is None or (self.busy and source.id != "branch-view"):
            self.tinygpt.say("Branching continues a generated sample: select one of its tokens once it is done.",
                             error=True)
            return
        pane = await branch_pane(self.query_one("#explorer-tabs", TabbedContent))
        try:
            if source is not pane.view:  # each sample has its own tree, started on its first branch
                pane.use_sample(self.generation, record.sample, lambda: BranchTree.start(
                    self._prompt, replace(params, seed=params.seed + record.sample), source.records, self.run,
                    sample=record.sample))
            pane.grow(self.tinygpt.workbench, pane.current if source is pane.view else 0, record.index, token)
        except TinyGPTError as err:
            self.tinygpt.say_error(err)
            return
        self.query_one("#explorer-tabs", TabbedContent).active = "branches-pane"
        self.tinygpt.say(f"Branching at token {record.index + 1}… ([ ] siblings, p parent, /branches save FILE)")
