"""``tinygpt demo``: a prompt-toolkit REPL to explore a trained run token by token.

Type a prompt: the REPL streams a generation coloured by probability, then a short summary (tokens,
why it stopped, mean surprisal, the most surprising tokens) and the ``tinygpt generate --show all``
line that prints every table for the same answer. Slash commands change settings (``/help`` lists them).

Input: history is kept across sessions in ``$TINYGPT_HISTORY`` (default ``~/.tinygpt_history``);
Tab completes commands, ``/params`` names and ``/load`` run names. For a multi-line prompt end a line
with ``\\`` or press Esc then Enter; Enter alone submits. Ctrl-C stops a generation (or clears the
line); Ctrl-D or ``/quit`` leaves.

:class:`Repl` takes its input, output and console from the caller, so tests drive it with
prompt-toolkit's pipe input and read what it printed from a StringIO.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from rich.console import Console
from rich.text import Text

from . import commands
from .commands import Command, nproc_arg
from .config import SamplingConfig, TinyGPTError
from .events import TrainingState
from .forms import quick_start_config
from .present import ended_sentence, error_line
from .repl_branches import BranchCommands
from .repl_input import SlashCompleter, history_path, key_bindings
from .units import duration, human_count
from .workbench import Workbench


def end_message(state: TrainingState) -> str:
    """How a training process ended, in this face's words: the core states ``resumable``, and a run
    that can go on is trained again by running the same command (as the command line says)."""
    message = ended_sentence(state.done) if state.done is not None else state.message or ""
    if state.status != "done" or not state.resumable:
        return message
    if (state.ended_in or "training") == "training":
        return f"{message} Run the same command again to resume."
    return f"{message.rstrip('.')}; run the same command again to continue."  # stopped while preparing


def status_line(run: str, state: TrainingState) -> str:
    """One toolbar line for a training process: step, loss, validation, ETA; or how it ended. An event
    that could not be read is said after it, in one sentence."""
    if state.status in ("done", "error"):
        what = "failed" if state.status == "error" else "done"
        from .render import result_line

        result = result_line(state, f"/continue 2m {run} trains it more.")
        return f" {run}: {what}: {end_message(state)}" + (f" {result}" if result else "")
    if state.tokens_per_s is None:  # no step measured yet: what it is preparing
        line = f" {run}: {state.stage_message or 'starting'}"
    else:
        loss = "nan" if state.loss is None else f"{state.loss:.3f}"
        line = f" {run}: step {state.step:,}  loss {loss}"
        if state.val_loss is not None and state.val_bpb is not None:
            line += f"  val {state.val_loss:.3f} ({state.val_bpb:.3f} bits/byte)"
        if state.warming_up:
            line += "  warming up  (/stop stops it)"
        else:
            line += f"  {human_count(state.tokens_per_s)} tok/s  ETA {duration(state.eta_s)}  (/stop stops it)"
    if state.problem:
        line += f"  ({error_line(state.problem, state.problem_hint)})"
    return line


class Repl(BranchCommands):
    """The demo REPL over a :class:`~tinygpt_tui.workbench.Workbench` (``workbench``).

    ``input``/``output`` are prompt-toolkit Input/Output objects (None: the terminal); ``console`` a
    rich Console for everything the REPL prints; ``history`` a prompt-toolkit History (None: a file
    history at :func:`history_path`).
    """

    def __init__(
        self,
        run: str | None = None,
        *,
        which: str = "best",
        workbench: Workbench,
        console: Console | None = None,
        input: Any = None,
        output: Any = None,
        history: History | None = None,
    ):
        self.workbench = workbench
        self.console = console or Console(highlight=False)
        self.which = which
        self.params = SamplingConfig()
        self.last_generation: tuple[str, list[Any], SamplingConfig] | None = None
        """The prompt, records and settings of the last generation (what /lens, /cuts and /save look into)."""
        self.trees: Any = None
        """The branch trees of the last generation, one per sample (a branches.BranchTrees), or those opened."""
        self.branch_id = 0
        """The branch /branch grows from, of the tree in view: the last one made or gone to."""
        self._branch_at: dict[int, int] = {}
        """The branch that was in view in each sample's tree (/branches sample S comes back to it)."""
        self._io = (input, output)
        if history is None:
            try:
                history = FileHistory(str(history_path()))
            except OSError:
                history = InMemoryHistory()
        self.session: PromptSession = PromptSession(
            history=history,
            completer=SlashCompleter(self.workbench.run_names),
            complete_while_typing=True,
            key_bindings=key_bindings(),
            prompt_continuation="... ",
            # live status of runs started here with /train or /new, refreshed while you type
            bottom_toolbar=self.training_status,
            refresh_interval=1.0,
            input=input,
            output=output,
        )
        if run is not None:
            self.load(run, quiet=True)  # the banner describes it


    @property
    def last_prompt(self) -> str:
        return self.last_generation[0] if self.last_generation else ""

    @property
    def last_records(self) -> list[Any]:
        """The token records of the last generation (what /save tokens and /save samples write)."""
        return self.last_generation[1] if self.last_generation else []

    def training_status(self) -> str | None:
        """One line per training process started from this REPL (:func:`status_line` of the state its
        supervisor folds). None (no toolbar) when nothing was started here."""
        lines = [status_line(proc.run, proc.state) for proc in self.workbench.started_training()]
        return "\n".join(lines) or None

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        """Read and handle lines until /quit or Ctrl-D; returns the exit code."""
        self.banner()
        while True:
            try:
                line = self.session.prompt(self._prompt_message())
            except KeyboardInterrupt:
                continue  # Ctrl-C clears the line, as in a shell
            except EOFError:
                break
            if not self.handle(line):
                break
        # runs started here end with the session, as a shell's jobs do; each saves a checkpoint and
        # resumes exactly with /train RUN (or tinygpt train --run RUN) later
        for proc in self.workbench.active_training():
            self.info(f"Stopping the training of '{proc.run}' (a checkpoint is saved; /train {proc.run} "
                      "resumes it)...", "dim")
            self.workbench.stop_training(proc.run, wait=60.0)
        self.console.print(Text("bye", style="dim"))
        return 0

    def _prompt_message(self) -> str:
        return f"{self.workbench.run_name or 'no run'}> "

    def banner(self) -> None:
        c = self.console
        c.print(Text("tinygpt demo", style="bold"), Text("— type a prompt to see every token; /help lists "
                                                          "the commands; Ctrl-D leaves.", style="dim"))
        c.print(Text("Multi-line prompt: end a line with \\ or press Esc then Enter. An empty line samples "
                     "a fresh story.", style="dim"))
        if self.workbench.loaded:
            self._describe_run()
        else:
            c.print(Text("No run loaded: /load RUN (Tab completes names).", style="yellow"))

    def handle(self, line: str) -> bool:
        """Handle one input line; False means leave. User errors print one sentence and a hint."""
        try:
            cmd = commands.parse(line)
            if cmd is None:
                # an empty line is a prompt too: a fresh document, started from <|endoftext|>
                self.generate(commands.prompt_text(line))
                return True
            return self.dispatch(cmd)
        except TinyGPTError as err:
            self.error(err)
            return True

    def error(self, err: TinyGPTError) -> None:
        from .render import print_error

        print_error(self.console, err)

    def info(self, message: str, style: str = "green") -> None:
        self.console.print(Text(message, style=style))

    # -- commands ----------------------------------------------------------------------------------
    def dispatch(self, cmd: Command) -> bool:
        handler = getattr(self, f"cmd_{cmd.name}")
        return handler(cmd.args) is not False

    def cmd_help(self, args: list[str]) -> None:
        from .render_tables import help_table

        self.console.print(help_table(commands.help_rows(args[0] if args else None)))
        if not args:
            self.info("Anything else is a prompt (start it with // to begin with a slash). "
                      "Multi-line: end a line with \\ or press Esc then Enter.", "dim")

    def cmd_params(self, args: list[str]) -> None:
        from .render_tables import params_table

        if not args:
            self.console.print(params_table(commands.params_rows(self.params)))
            return
        self.params = commands.apply_params(self.params, args)
        self.info("set " + ", ".join(a.split("=", 1)[0] + "=" + repr(getattr(
            self.params, commands.canonical_param(a.split("=", 1)[0]))) for a in args))

    def cmd_tokens(self, args: list[str]) -> None:
        from .render_tables import vocab_stats_tables

        for renderable in vocab_stats_tables(self.workbench.vocab_stats()):
            self.console.print(renderable)

    def cmd_versus(self, args: list[str]) -> None:
        from .render import legend
        from .render_study import versus_summary, versus_table, versus_text

        if not args or len(args) < 2:
            raise TinyGPTError("/versus needs a run and a text.", "for example /versus other Once upon a time.")
        result = self.workbench.versus(args[0], " ".join(args[1:]))
        for side, name in (("a", result.run_a), ("b", result.run_b)):
            self.console.print(Text(f"{side.upper()} {name}", style="bold"))
            self.console.print(versus_text(result, side))
        self.console.print(legend("surprisal"))
        self.console.print(versus_table(result, 10))
        self.console.print(versus_summary(result))

    def cmd_compare(self, args: list[str]) -> None:
        import shutil

        from .compare import compare_runs
        from .render_tables import comparison_table, validation_chart

        if not args:
            raise TinyGPTError("Which runs?", "name them: /compare RUN RUN...")
        series = compare_runs(self.workbench.models_dir, args)
        self.console.print(comparison_table(series))
        if any(s.val for s in series):
            width = min(120, max(40, shutil.get_terminal_size((100, 24)).columns))
            self.console.print(Text.from_ansi(validation_chart(series, width)))

    def cmd_timelapse(self, args: list[str]) -> None:
        """/timelapse [TEXT]: TEXT (default: the last prompt and its first sample) under each checkpoint."""
        from .heatmap import heatmap
        from .render import legend

        lapse = self.workbench.timelapse()
        text = " ".join(args)
        if not text and self.last_generation is not None:
            prompt, records, _params = self.last_generation
            text = prompt + "".join(r.text for r in records if r.sample == 0)
        if not text:
            raise TinyGPTError("/timelapse needs a text to read.", "for example /timelapse Once upon a time.")
        self.console.print(Text(f"{lapse.name}: {len(lapse.frames)} checkpoints, steps "
                                f"{lapse.frames[0].step} to {lapse.frames[-1].step}", style="bold"))
        self.console.print(heatmap(lapse.surprisal(text), self.console.width))
        self.console.print(legend("surprisal"))

    def cmd_train(self, args: list[str]) -> None:
        args, nproc = nproc_arg(args)
        name = args[0] if args else self.workbench.run_name
        if not name:
            raise TinyGPTError("Which run should train?", "name it: /train RUN (or load one first).")
        proc = self.workbench.start_training(name, nproc=nproc)
        where = f" in {nproc} processes" if nproc > 1 else ""
        self.info(f"Training '{name}'{where} in the background (pid {proc.proc.pid}); /stop stops it with a "
                  f"checkpoint, /load {name} picks up the newest weights.")

    def cmd_continue(self, args: list[str]) -> None:
        steps, seconds, name = commands.continue_args(args)
        name = name or self.workbench.run_name
        if not name:
            raise TinyGPTError("Which run should train further?", "name it: /continue 500 RUN or /continue 2m RUN.")
        added = self.workbench.extend_run(name, steps=steps, seconds=seconds)
        proc = self.workbench.start_training(name)
        self.info(f"Continuing '{name}' for {added} from its checkpoint, in the background (pid {proc.proc.pid}); "
                  f"/stop stops it, /load {name} picks up the newest weights.")

    def cmd_stop(self, args: list[str]) -> None:
        procs = [p for p in self.workbench.active_training() if not args or p.run == args[0]]
        if not procs:
            self.info("Nothing is training here. (Ctrl-C stops a generation.)", "dim")
            return
        for proc in procs:
            self.workbench.stop_training(proc.run, wait=60.0)
            self.info(f"Stopped training '{proc.run}' (a checkpoint was saved).")

    def cmd_load(self, args: list[str]) -> None:
        if not args:
            from .render_tables import runs_table

            infos = self.workbench.list_runs()
            if not infos:
                raise TinyGPTError(f"There are no runs in {self.workbench.workspace.models}.",
                                   "train one first: tinygpt train --run quick --preset tiny")
            self.console.print(runs_table(infos))
            self.info("Load one with /load RUN.", "dim")
            return
        self.load(args[0])

    def cmd_new(self, args: list[str]) -> None:
        args, nproc = nproc_arg(args)
        name = args[0] if args else "quick"
        if self.workbench.run_exists(name):
            raise TinyGPTError(f"A run named '{name}' already exists.",
                               f"/train {name} resumes it, or pick another name: /new NAME.")
        cfg = quick_start_config(name)
        proc = self.workbench.start_training(cfg, nproc=nproc)
        self.info(f"Created run '{name}' (preset tiny, storybook data) and started training it in the "
                  f"background (pid {proc.proc.pid}); /load {name} once it has weights, /stop stops it.")

    def cmd_rename(self, args: list[str]) -> None:
        if len(args) != 2:
            raise TinyGPTError("/rename takes the run's name and its new one.", "e.g. /rename quick stories-1.")
        self.workbench.rename_run(args[0], args[1])
        self.info(f"Renamed run '{args[0]}' to '{args[1]}'.")

    def cmd_delete(self, args: list[str]) -> None:
        from .units import human_bytes

        if len(args) != 1:
            raise TinyGPTError("Which run should be deleted?", "name it: /delete RUN.")
        name = args[0]
        wb = self.workbench
        if wb.loaded and wb.run_name == name:  # said before asking, as the workbench would refuse it
            raise TinyGPTError(f"Run '{name}' is loaded here, so it cannot be deleted.",
                               "load another run first (/load RUN), then delete this one.")
        size = wb.run_footprint(name)
        if not self.confirm(f"Delete run '{name}' and its {size.files} files ({human_bytes(size.bytes)})? "
                            "This cannot be undone. [y/N] "):
            self.info(f"Kept run '{name}'.", "dim")
            return
        wb.delete_run(name)
        self.info(f"Deleted run '{name}' ({size.files} files, {human_bytes(size.bytes)}).")

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on the REPL's own input; only y or yes is a yes (Ctrl-C, Ctrl-D: no)."""
        ask: PromptSession = PromptSession(input=self._io[0], output=self._io[1])  # no history: answers are not prompts
        try:
            answer = ask.prompt(question)
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    def cmd_save(self, args: list[str]) -> None:
        from .present import short_path

        kind, file, run = commands.save_args(args)
        if kind == "metrics":
            run = run or self.workbench.run_name
        path, n = self.workbench.save_table(kind, Path(file), prompt=self.last_prompt,
                                            records=self.last_records, run=run)
        what = {"samples": "sample", "tokens": "token", "metrics": "measurement"}[kind]
        self.info(f"Saved {n} {what}{'s' if n != 1 else ''} to {short_path(path)}.")

    def cmd_clear(self, args: list[str]) -> None:
        self.console.clear()

    def cmd_seed(self, args: list[str]) -> None:
        if not args:
            self.info(f"seed: {self.params.seed if self.params.seed is not None else 'random'}", "bold")
            return
        self.params = commands.apply_params(self.params, [f"seed={args[0]}"])
        self.info(f"seed set to {self.params.seed if self.params.seed is not None else 'random'}")

    def cmd_quit(self, args: list[str]) -> bool:
        return False

    def cmd_lens(self, args: list[str]) -> None:
        from .render_study import lens_legend, lens_table

        rec, context = self._token(args)
        lens = self.workbench.logit_lens(context, rec.id)
        self.console.print(lens_table(lens, rec))
        self.console.print(lens_legend(lens))

    def cmd_cuts(self, args: list[str]) -> None:
        from .render_study import cuts_legend, cuts_table

        rec, context = self._token(args)
        assert self.last_generation is not None
        cuts = self.workbench.sampler_cuts(context, rec.id, self.last_generation[2])
        self.console.print(cuts_table(cuts, rec))
        self.console.print(cuts_legend(cuts))

    def _token(self, args: list[str]) -> tuple[Any, list[int]]:
        """The record ``/lens N [SAMPLE]`` names in the last generation, and the ids its model saw."""
        index, sample = commands.token_args(args)
        if self.last_generation is None:
            raise TinyGPTError("There is no generation to look into yet.",
                               "type a prompt first; its per-token table numbers the tokens.")
        prompt, records, _ = self.last_generation
        samples = sorted({r.sample for r in records})
        if sample not in samples:
            raise TinyGPTError(f"The last generation has no sample {sample + 1}.",
                               f"it has {len(samples)}: /lens {index + 1} {samples[-1] + 1 if samples else 1}.")
        ids = [r.id for r in records if r.sample == sample]
        context = self.workbench.token_context(prompt, ids, index)
        return next(r for r in records if r.sample == sample and r.index == index), context

    # -- the work ----------------------------------------------------------------------------------
    def load(self, run: str, quiet: bool = False) -> None:
        cfg = self.workbench.load(run, self.which)
        self.last_generation = None  # another model's tokens
        seed = self.params.seed
        self.params = self.workbench.default_params()
        if seed is not None:
            self.params = commands.apply_params(self.params, [f"seed={seed}"])
        if not quiet:
            self._describe_run(cfg)

    def _describe_run(self, cfg: Any = None) -> None:
        cfg = cfg or self.workbench.config
        m = cfg.model
        self.info(f"Loaded run '{self.workbench.run_name}': {self.workbench.num_params() / 1e6:.2f}M parameters, "
                  f"{m.n_layer} layers x {m.n_embd} wide, context {m.block_size}, "
                  f"{cfg.tokenizer.kind} tokenizer with {m.vocab_size} tokens.")

    def generate(self, prompt: str) -> None:
        """Generate from ``prompt`` and show it as ``tinygpt generate --show all`` does."""
        from .generate import encode_prompt, resolve_seed
        from .render import GenerationView

        if not self.workbench.loaded:
            raise TinyGPTError("No run is loaded, so there is nothing to generate with.",
                               "load one with /load RUN (Tab completes names).")
        encode_prompt(self.workbench.tokenizer, prompt)  # a bad character: one sentence, before any output
        params = resolve_seed(self.params)
        breakdown = self.workbench.breakdown(prompt) if prompt else []
        # The story first, then a few lines about it (tokens, why it stopped, mean surprisal, the most
        # surprising tokens): with every table an answer ran to ~250 lines and the story scrolled away.
        # The full tables are one command away (printed after the answer).
        view = GenerationView(self.console, {"text", "surprising"}, stream=True)
        cancel = threading.Event()
        stream = self.workbench.generate(prompt, params, cancel=cancel)
        view.start(prompt, breakdown, params.seed, params.num_samples)
        records: list[Any] = []
        # kept for /lens and /cuts, whatever becomes of the generation (a stop keeps what was drawn)
        self.last_generation = (prompt, records, params)
        by_sample: dict[int, list] = {}  # each sample: the root of its own branch tree
        try:
            for rec in stream:
                records.append(rec)
                view.add(rec)
                by_sample.setdefault(rec.sample, []).append(rec)
        except KeyboardInterrupt:
            cancel.set()
            self.info("\n(stopped)", "yellow")
        finally:
            view.finish()
        if by_sample:
            from dataclasses import replace

            from .branches import BranchTree, BranchTrees

            trees = BranchTrees()
            for k, recs in sorted(by_sample.items()):
                trees.add(BranchTree.start(prompt, replace(params, seed=params.seed + k), recs,
                                           self.workbench.run_name or "", sample=k))
            trees.current = min(by_sample)
            self.trees, self.branch_id, self._branch_at = trees, 0, {}
        several = " (of sample 1; /branches sample S for another)" if len(by_sample) > 1 else ""
        self.info(f"/seed {params.seed} repeats this. /branch POSITION ALTERNATIVE continues it from another "
                  f"token{several}. Every table (tokens, boundaries, pieces, probabilities, alternatives):", "dim")
        self.console.print(Text(self.full_view_command(prompt, params), style="dim"), soft_wrap=True)

    def full_view_command(self, prompt: str, params: SamplingConfig) -> str:
        """The ``tinygpt generate --show all`` line that repeats this answer with every table."""
        import shlex

        name = self.workbench.run_name or ""
        # a Hugging Face model is loaded as run "hf:SOURCE" (Workbench.load_hf)
        source = ["--hf", name[3:]] if name.startswith("hf:") else ["--run", name, "--checkpoint", self.which]
        argv = ["tinygpt", "generate", *source, "--prompt", prompt, "--seed", str(params.seed),
                "--temperature", str(params.temperature), "--top-k", str(params.top_k), "--top-p", str(params.top_p),
                "--tokens", str(params.max_new_tokens), "--samples", str(params.num_samples),
                "--alternatives", str(params.alternatives)]
        for stop in params.stop or []:
            argv += ["--stop", stop.replace("\n", "\\n").replace("\t", "\\t")]  # as --stop reads them
        return shlex.join([*argv, "--show", "all"])
