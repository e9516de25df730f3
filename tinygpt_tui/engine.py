"""The facade every face uses: list and load runs, tokenize, generate, score, train.

The TUI, the CLI and the REPL talk to the core through :class:`Engine`. It imports nothing from
Textual, Rich or prompt-toolkit, and it imports torch only when a model is loaded, so a face can
paint its first frame before torch is in memory.

Training never runs inside the caller's process: :meth:`Engine.start_training` spawns
``python -m tinygpt_tui.train`` in its own session and reads its JSON event lines from a pipe
(:class:`TrainingProcess`); :meth:`Engine.attach` follows ``metrics.jsonl`` of a run that another
process (say, ``tinygpt train`` in a second terminal) is training (:class:`MetricsFollower`). Both
read each event once (:func:`events.read`) and yield it typed; an event that cannot be read comes
as its :class:`~tinygpt_tui.events.EventError`, for the face to say in one sentence. A process also
folds what it reads into its :class:`~tinygpt_tui.events.TrainingState` (``state``).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import config as cfgmod
from . import events as ev
from .config import (
    PRESETS,
    ConfigError,
    DataConfig,
    RunConfig,
    SamplingConfig,
    TinyGPTError,
    TokenizerConfig,
    preset_config,
    valid_run_name,
)

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from .generate import ScoreResult, TokenRecord
    from .model import GPT
    from .runs import RunInfo
    from .tokenizer import Tokenizer


# --------------------------------------------------------------------------------------------------
# A new run from the handful of fields a form asks for


@dataclass
class RunForm:
    """The fields of the "new run" form, as the user typed them (strings)."""

    name: str = "quick"
    source: str = "storybook"
    tokenizer: str = "bpe"
    vocab_size: str = ""
    preset: str = "tiny"
    steps: str = ""


def validate_run_form(form: RunForm, existing: set[str] | None = None) -> dict[str, str]:
    """Check each field of ``form``; return ``{field: one-sentence message}`` for the bad ones.

    The checks are config.py's own (the dataclasses' ``__post_init__``), so the form says exactly
    what ``tinygpt train`` would say. ``existing`` names runs that already exist.
    """
    errors: dict[str, str] = {}
    if not valid_run_name(form.name.strip()):
        errors["name"] = "Use letters, digits, '-', '_' or '.', starting with a letter or digit."
    elif existing and form.name.strip() in existing:
        errors["name"] = f"A run named '{form.name.strip()}' already exists; pick another name."
    try:
        DataConfig(source=form.source)
    except ConfigError as e:
        errors["source"] = _sentence(e)
    if form.preset not in PRESETS:
        errors["preset"] = f"Unknown preset '{form.preset}'; choose one of {', '.join(PRESETS)}."
    vocab = form.vocab_size.strip()
    try:
        size = int(vocab) if vocab else _preset_vocab(form.preset)
        TokenizerConfig(kind=form.tokenizer, vocab_size=size)
    except ValueError:
        errors["vocab_size"] = f"'{vocab}' is not a whole number."
    except ConfigError as e:
        errors["vocab_size" if form.tokenizer in cfgmod.TOKENIZER_KINDS else "tokenizer"] = _sentence(e)
    steps = form.steps.strip()
    if steps:
        try:
            if int(steps) < 1:
                raise ValueError
        except ValueError:
            errors["steps"] = f"'{steps}' is not a positive whole number of steps."
    return errors


def run_config_from_form(form: RunForm) -> RunConfig:
    """Build the RunConfig a valid form describes (raises TinyGPTError where it is not valid)."""
    errors = validate_run_form(form)
    if errors:
        field_name, message = next(iter(errors.items()))
        raise ConfigError(message, f"fix the {field_name.replace('_', ' ')} field.")
    overrides: dict[str, dict[str, Any]] = {
        "data": {"source": form.source.strip()},
        "tokenizer": {"kind": form.tokenizer},
    }
    if form.vocab_size.strip():
        overrides["tokenizer"]["vocab_size"] = int(form.vocab_size)
    if form.steps.strip():
        steps = int(form.steps)
        overrides["train"] = {"max_steps": steps}
        # a short run still wants a few evaluations and a warmup that fits inside it
        preset_train = PRESETS[form.preset].get("train", {})
        if preset_train.get("eval_interval", 200) > steps:
            overrides["train"]["eval_interval"] = max(1, steps // 4)
        if preset_train.get("warmup_steps", 100) >= steps:
            overrides["train"]["warmup_steps"] = max(0, steps // 10)
        if preset_train.get("log_interval", 10) > steps:
            overrides["train"]["log_interval"] = 1
    return preset_config(form.preset, form.name.strip(), overrides)


def quick_start_config() -> RunConfig:
    """The quick start: preset ``tiny`` on the built-in story corpus, run name ``quick``."""
    return preset_config("tiny", "quick", {"data": {"source": "storybook"}, "tokenizer": {"kind": "bpe"}})


def _preset_vocab(preset: str) -> int:
    return int(PRESETS.get(preset, {}).get("tokenizer", {}).get("vocab_size", TokenizerConfig().vocab_size))


def _sentence(err: TinyGPTError) -> str:
    return err.message if not err.hint else f"{err.message} ({err.hint})"


# --------------------------------------------------------------------------------------------------
# Training in another process


class TrainingProcess:
    """A training run in its own process, observed through its stdout event lines.

    The child gets its own session (process group) so a Ctrl+C typed at the app's terminal does not
    reach it, and so :meth:`stop` can signal it and any helpers it starts together.
    """

    def __init__(self, run: str, models_dir: Path, data_dir: Path, extra_args: list[str] | None = None):
        self.run = run
        # stderr goes to an unnamed temporary file, not a pipe: if this app quits and leaves the run
        # training, a warning printed later cannot hit a closed pipe (stdout's BrokenPipeError is
        # handled by train.py itself; events also go to metrics.jsonl)
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self._queue: queue.Queue[ev.Event | ev.EventError | None] = queue.Queue()
        env = dict(os.environ)
        env["TINYGPT_MODELS"] = str(models_dir)
        env["TINYGPT_DATA"] = str(data_dir)
        # the event stream must arrive line by line, not in 8 KiB blocks
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [sys.executable, "-m", "tinygpt_tui.train", "--run", run,
               "--models-dir", str(models_dir), "--data-dir", str(data_dir), *(extra_args or [])]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            env=env,
            start_new_session=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self.started = time.time()
        self.stop_requested = False
        self.state = ev.TrainingState(run=run)
        """Everything read so far, folded (replaced whole by the reader thread, so always consistent)."""
        self._reader = threading.Thread(target=self._read_stdout, name=f"train-{run}-stdout", daemon=True)
        self._reader.start()

    # -- reading ---------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        saw_end = False
        for line in self.proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue  # not an event: a stray print (a library's) on stdout
            event = ev.read(line)
            if event is None:
                continue  # a kind this version does not know
            saw_end = saw_end or isinstance(event, (ev.Done, ev.Error))
            self._put(event)
        code = self.proc.wait()
        if not saw_end:
            # the process died without saying why (killed, crashed before its first event)
            tail = " | ".join(self.stderr_tail(3)) or "no output"
            self._put(ev.Error(message=f"The training process exited with code {code}.",
                               hint=f"its last words: {tail}"))
        self._queue.put(None)

    def _put(self, event: ev.Event | ev.EventError) -> None:
        self.state = ev.reduce(self.state, event)
        self._queue.put(event)

    def stderr_tail(self, lines: int = 10) -> list[str]:
        """The last non-empty lines the process wrote to stderr (warnings, a traceback)."""
        try:
            self._stderr_file.seek(0)
            text = self._stderr_file.read()[-20_000:].decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def events(self, timeout: float | None = None) -> Iterator[ev.Event | ev.EventError]:
        """Yield events as the process emits them until it exits (ends after ``timeout`` idle seconds)."""
        while True:
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                return
            if event is None:
                # let a second reader see the end too
                self._queue.put(None)
                return
            yield event

    # -- control ---------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def finished(self) -> bool:
        """Every event, the end included, is queued: :meth:`events` now ends without waiting."""
        return not self._reader.is_alive()

    def stop(self, wait: float | None = None) -> None:
        """Ask the process to stop with SIGINT: it saves a checkpoint and exits 0.

        With ``wait`` seconds, block until it exits; if it does not, send SIGTERM (also a graceful
        stop) and, as a last resort, SIGKILL.
        """
        self.stop_requested = True
        self._signal(signal.SIGINT)
        if wait is None:
            return
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=max(2.0, wait / 2))
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=5)

    def _signal(self, sig: int) -> None:
        if not self.alive:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)


class MetricsFollower:
    """Follow ``models/<run>/metrics.jsonl`` of a run trained by another process.

    :meth:`events` first yields the history already in the file, then new lines as they are
    appended (polling from the last byte offset), and ends after a ``done``/``error`` event, when
    ``stop()`` is called, or when the run's training lock disappears and nothing more arrives.
    """

    def __init__(self, run: str, poll: float = 0.25, since_offset: int = 0):
        self.run = run
        self.poll = poll
        self.offset = since_offset
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def events(self, follow: bool = True) -> Iterator[ev.Event | ev.EventError]:
        from . import runs

        idle_since = time.monotonic()
        while not self._stop.is_set():
            events, self.offset = runs.read_metrics(self.run, since_offset=self.offset)
            for wire in events:
                event = ev.read(wire)
                if event is None:
                    continue
                yield event
                if follow and isinstance(event, (ev.Done, ev.Error)):
                    return
            if not follow:
                return
            if events:
                idle_since = time.monotonic()
            elif not runs.is_training(self.run) and time.monotonic() - idle_since > 2.0:
                # the owner is gone and has said nothing for a while: it was killed
                return
            self._stop.wait(self.poll)


# --------------------------------------------------------------------------------------------------
# Attention maps of one sequence


@dataclass
class AttentionMaps:
    """What every head of every layer attended to over one sequence (pure data, no torch).

    ``weights[layer][head][query][key]`` is the softmax weight query position ``query`` gave key
    position ``key`` (rows sum to 1; keys after the query get 0, the model is causal).
    """

    ids: list[int]
    """The token ids the model saw (the sequence, cropped to its last ``block_size`` tokens)."""
    labels: list[str]
    """Each token on its own, as the explorer shows it (text, or ``<hex>`` for partial UTF-8)."""
    weights: Any
    """numpy float32 array of shape (n_layer, n_head, T, T)."""
    cropped: int = 0
    """How many tokens at the front of the sequence fell outside the context window."""

    @property
    def n_layer(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_head(self) -> int:
        return int(self.weights.shape[1])


# --------------------------------------------------------------------------------------------------
# The engine


class Engine:
    """One run at a time: its model, tokenizer and config; plus the run list and training control.

    ``models_dir``/``data_dir`` default to ``$TINYGPT_MODELS``/``$TINYGPT_DATA`` (or ./models,
    ./data). Given explicitly, they are exported to those variables, the same as ``tinygpt
    --models-dir`` does, because the core modules and the training process read them there.
    """

    def __init__(self, models_dir: str | Path | None = None, data_dir: str | Path | None = None):
        if models_dir is not None:
            os.environ["TINYGPT_MODELS"] = str(models_dir)
        if data_dir is not None:
            os.environ["TINYGPT_DATA"] = str(data_dir)
        self.models_dir = cfgmod.models_dir().resolve()
        self.data_dir = cfgmod.data_dir().resolve()
        self.run_name: str | None = None
        self._model: GPT | None = None
        self._tokenizer: Tokenizer | None = None
        self._config: RunConfig | None = None
        self._which = "best"
        self._vocab_cache: dict[str, Any] = {}
        self.training: dict[str, TrainingProcess] = {}

    # -- runs --------------------------------------------------------------------------------------
    def list_runs(self) -> list[RunInfo]:
        """Every run under the models folder (newest first as runs.py orders them)."""
        from . import runs

        if not self.models_dir.is_dir():
            return []
        return list(runs.list_runs())

    def run_names(self) -> set[str]:
        return {info.name for info in self.list_runs()}

    def run_exists(self, name: str) -> bool:
        return (self.models_dir / name / "config.json").is_file()

    def create_run(self, cfg: RunConfig) -> Path:
        """Write a new run folder with ``cfg`` (TinyGPTError if the name is taken)."""
        from . import runs

        return runs.create_run(cfg)

    def run_config(self, name: str) -> RunConfig:
        from . import runs

        return runs.load_run_config(name)

    def has_weights(self, name: str) -> bool:
        d = self.models_dir / name
        return (d / "model.safetensors").is_file() or (d / "best.safetensors").is_file()

    def read_metrics(self, name: str, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        from . import runs

        return runs.read_metrics(name, since_offset=since_offset)

    def read_events(self, name: str, since_offset: int = 0) -> tuple[list[ev.Event | ev.EventError], int]:
        """:meth:`read_metrics`, each event read once (:func:`events.read`): typed, or the EventError
        of one that cannot be read; kinds this version does not know are left out."""
        wires, offset = self.read_metrics(name, since_offset)
        return [e for e in map(ev.read, wires) if e is not None], offset

    def is_training(self, name: str) -> bool:
        """True while any process (this app's or another) holds the run's training lock."""
        from . import runs

        proc = self.training.get(name)
        if proc is not None and proc.alive:
            return True
        return bool(runs.is_training(name))

    # -- the loaded run ----------------------------------------------------------------------------
    def load(self, run: str, which: str = "best") -> RunConfig:
        """Load ``run``'s weights (``best`` falls back to ``latest``), tokenizer and config."""
        from .checkpoint import load_model

        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}' in {self.models_dir}.",
                               "list runs with /load (no name) or create one with /new.")
        if not self.has_weights(run):
            raise TinyGPTError(f"Run '{run}' has no trained weights yet.", "train it first with /train.")
        model, tok, cfg = load_model(run, which=which)
        model.eval()
        self._model, self._tokenizer, self._config = model, tok, cfg
        self.run_name, self._which = run, which
        self._vocab_cache = {}
        return cfg

    def unload(self) -> None:
        self._model = self._tokenizer = self._config = None
        self.run_name = None
        self._vocab_cache = {}

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _need(self) -> None:
        if self._model is None:
            raise TinyGPTError("No model is loaded.", "pick a run on the runs screen or type /load RUN.")

    @property
    def model(self) -> GPT:
        self._need()
        assert self._model is not None
        return self._model

    @property
    def tokenizer(self) -> Tokenizer:
        self._need()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def config(self) -> RunConfig:
        self._need()
        assert self._config is not None
        return self._config

    def num_params(self) -> int:
        return self.model.num_params()

    # -- tokens ------------------------------------------------------------------------------------
    def breakdown(self, text: str) -> list[dict[str, Any]]:
        """The tokenization of ``text``: one dict(id, piece, hex, text) per token."""
        from .vocab import breakdown

        return breakdown(self.tokenizer, text)

    def shards_path(self) -> Path | None:
        """The shard folder this run's tokenizer produced, when it exists."""
        try:
            from . import corpora, shards

            dataset = self.data_dir / corpora.dataset_name(self.config.data)
            path = shards.shards_dir(dataset, self.tokenizer)
        except TinyGPTError:
            return None
        return path if path.is_dir() else None

    def vocab_stats(self) -> dict[str, Any]:
        """Statistics of the vocabulary (as ``tinygpt vocab``), with shard frequencies when present."""
        if "stats" not in self._vocab_cache:
            from .vocab import vocab_stats

            self._vocab_cache["stats"] = vocab_stats(self.tokenizer, self.shards_path())
        return self._vocab_cache["stats"]

    def token_frequencies(self) -> Any | None:
        """Counts of each id in the training shard (numpy array [vocab]) or None without shards."""
        if "freq" not in self._vocab_cache:
            import numpy as np

            counts = None
            path = self.shards_path()
            if path is not None:
                from .shards import open_shards

                try:
                    shard_set = open_shards(path, self.tokenizer)
                    counts = np.bincount(np.asarray(shard_set.train), minlength=self.tokenizer.vocab_size)
                except TinyGPTError:
                    counts = None
            self._vocab_cache["freq"] = counts
        return self._vocab_cache["freq"]

    def vocab_rows(self) -> list[tuple[int, str, str, int, int | None]]:
        """One row per token: (id, piece, hex, byte length, frequency in the training shard or None)."""
        tok = self.tokenizer
        lengths = tok.byte_lengths()
        freq = self.token_frequencies()
        rows = []
        for i in range(tok.vocab_size):
            rows.append((i, tok.piece(i), tok.hex(i), int(lengths[i]),
                         None if freq is None or i >= len(freq) else int(freq[i])))
        return rows

    # -- sampling ----------------------------------------------------------------------------------
    def default_params(self) -> SamplingConfig:
        """The loaded run's sampling settings, or the defaults."""
        if self._config is not None:
            return replace(self._config.sampling)
        return SamplingConfig()

    def generate(self, prompt: str, params: SamplingConfig,
                 cancel: threading.Event | None = None) -> Iterator[TokenRecord]:
        """Stream token records for ``params.num_samples`` samples, one sample after the other.

        An unset seed is drawn once, so sample ``s`` uses ``seed + s`` and the call can be repeated.
        """
        from . import generate as gen

        return gen.generate_samples(self.model, self.tokenizer, prompt, params, cancel=cancel)

    def score(self, text: str) -> ScoreResult:
        """Per-token probabilities of ``text`` under the model (surprisal colouring, bits per byte)."""
        from . import generate as gen

        return gen.score_text(self.model, self.tokenizer, text)

    def prompt_ids(self, prompt: str) -> list[int]:
        """The ids a generation from ``prompt`` starts with (``<|endoftext|>`` for an empty prompt)."""
        from .generate import encode_prompt

        return encode_prompt(self.tokenizer, prompt)

    def attention(self, ids: list[int]) -> AttentionMaps:
        """Attention maps of one forward pass over ``ids`` (its last ``block_size`` tokens).

        One full pass, not the sampler's cached steps: the maps show what each position attends to
        when the whole (cropped) sequence is in view, which is what the explorer asks about.
        """
        import torch

        if not ids:
            raise TinyGPTError("There are no tokens to look at.", "generate or score a text first.")
        model, tok = self.model, self.tokenizer
        block = model.config.block_size
        cropped = max(0, len(ids) - block)
        ids = [int(i) for i in ids[cropped:]]
        device = next(model.parameters()).device
        model.eval()  # no dropout: the maps must be the model's, not a random thinning of them
        with torch.inference_mode():
            out = model(torch.tensor([ids], dtype=torch.long, device=device), return_attention=True)
        assert out.attentions is not None
        # (n_layer, nh, T, T) for the single sequence of the batch
        weights = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
        labels = []
        for i in ids:
            data = tok.token_bytes(i)
            try:
                labels.append(data.decode("utf-8") if not tok.is_special(i) else tok.piece(i))
            except UnicodeDecodeError:
                labels.append(f"<{data.hex(' ')}>")
        return AttentionMaps(ids=ids, labels=labels, weights=weights, cropped=cropped)

    # -- training ----------------------------------------------------------------------------------
    def start_training(self, run: str | RunConfig, extra_args: list[str] | None = None) -> TrainingProcess:
        """Start (or resume) training ``run`` in a new process; a RunConfig is created first."""
        if isinstance(run, RunConfig):
            if not self.run_exists(run.name):
                self.create_run(run)
            name = run.name
        else:
            name = run
        if not self.run_exists(name):
            raise TinyGPTError(f"There is no run named '{name}'.", "create it first with /new.")
        current = self.training.get(name)
        if current is not None and current.alive:
            finishing = current.stop_requested or current.state.status in ("done", "error")
            if not finishing:
                return current
            # it said its last word and is exiting: let it release the run's lock first
            try:
                current.wait(timeout=10)
            except subprocess.TimeoutExpired:
                raise TinyGPTError(f"Run '{name}' is still saving its checkpoint.",
                                   "try again in a moment.") from None
        if self.is_training(name):
            raise TinyGPTError(f"Run '{name}' is already training in another process.",
                               "watch it with /train (it attaches) or stop that process first.")
        proc = TrainingProcess(name, self.models_dir, self.data_dir, extra_args)
        self.training[name] = proc
        return proc

    def stop_training(self, run: str, wait: float | None = None) -> bool:
        """Stop this app's training of ``run`` gracefully; False when it is not ours or not running."""
        proc = self.training.get(run)
        if proc is None or not proc.alive:
            return False
        proc.stop(wait=wait)
        return True

    def started_training(self) -> list[TrainingProcess]:
        """Every training process this engine started, running or finished."""
        return list(self.training.values())

    def active_training(self) -> list[TrainingProcess]:
        """Training processes this engine started that are still running."""
        return [p for p in self.training.values() if p.alive]

    def attach(self, run: str, since_offset: int = 0) -> MetricsFollower:
        """Follow a run being trained elsewhere (metrics.jsonl), from ``since_offset``."""
        if not self.run_exists(run):
            raise TinyGPTError(f"There is no run named '{run}'.", "check the name on the runs screen.")
        return MetricsFollower(run, since_offset=since_offset)

    def shutdown(self, stop_training: bool = True, wait: float = 30.0) -> None:
        """Stop this engine's training processes gracefully (each saves a checkpoint)."""
        if not stop_training:
            return
        for proc in self.active_training():
            proc.stop(wait=wait)
