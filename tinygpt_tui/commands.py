"""Slash commands and ``/params`` assignments, shared by the REPL and the Textual app.

A line that starts with ``/`` is a command (``/params temperature=0.7 top_k=50``); anything else is
a prompt. A line starting with ``//`` is a prompt that begins with ``/`` (the first slash is
dropped). Nothing here draws on a screen: faces decide how to show help, tables and errors.
"""

from __future__ import annotations

import dataclasses
import difflib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from .config import ConfigError, SamplingConfig, TinyGPTError, coerce_value


@dataclass(frozen=True)
class CommandSpec:
    """One slash command: what it is called, how to write it, what it does."""

    name: str
    usage: str
    help: str
    arg: str = ""
    """What its arguments complete to: ``params`` (name=value), ``runs`` (run names), ``int``,
    ``save`` (what /save writes, then run names for metrics), ''."""
    max_args: int | None = 0
    """How many arguments it takes at most (None: any number)."""
    aliases: tuple[str, ...] = ()
    text_after: int | None = None
    """After this many arguments, the rest of the line is one text taken as typed (quotes and
    apostrophes included), not split like a shell line; None: every argument is split."""


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec("help", "/help [COMMAND]", "Show the commands, or the details of one.", "commands", 1, ("?",)),
        CommandSpec("params", "/params [NAME=VALUE ...]",
                    "Show the sampling settings, or set some, e.g. /params temperature=0.7 top_k=50.",
                    "params", None),
        CommandSpec("tokens", "/tokens", "Show vocabulary statistics of the loaded run's tokenizer."),
        CommandSpec("versus", "/versus RUN [TEXT]",
                    "Read a text under the loaded run and RUN side by side: each token's surprisal under both "
                    "and where they disagree most (TEXT: default the last prompt).", "runs", None,
                    text_after=1),
        CommandSpec("compare", "/compare RUN [RUN...]",
                    "Runs side by side: each run's preset, parameters, tokens seen, best validation bits per byte "
                    "and time, and their validation curves on one chart.", "runs", None),
        CommandSpec("train", "/train [RUN] [nproc=N]",
                    "Start (or resume) training a run; nproc=N trains in N processes (DDP through torchrun).",
                    "runs", 2),
        CommandSpec("continue", "/continue [N|TIME] [RUN]",
                    "Train a run further from its checkpoint: N more steps (/continue 500) or more time "
                    "(/continue 2m); alone, its preset's budget again.", "runs", 2, ("more",)),
        CommandSpec("stop", "/stop [RUN]",
                    "Stop what is running: generation, or training (it saves a checkpoint).", "runs", 1),
        CommandSpec("load", "/load RUN", "Load a trained run (its best checkpoint) for generation.", "runs", 1),
        CommandSpec("new", "/new [RUN] [nproc=N]",
                    "Create a new run (preset tiny on the built-in stories; default name quick) and train it "
                    "(nproc=N: in N processes).",
                    "", 2),
        CommandSpec("rename", "/rename OLD NEW", "Rename a run (not while it trains).", "runs", 2),
        CommandSpec("delete", "/delete RUN",
                    "Delete a run and all its files, after asking (not while it trains or is loaded).", "runs", 1),
        CommandSpec("save", "/save samples|tokens|metrics FILE.json|FILE.csv [RUN]",
                    "Save the last generation's samples or token table (token, id, piece, bytes, "
                    "probabilities, alternatives), or a run's metrics, as JSON or CSV (from the extension).",
                    "save", 3),
        CommandSpec("clear", "/clear", "Clear the screen."),
        CommandSpec("seed", "/seed [N|random]",
                    "Fix the sampling seed so generations repeat (random: a fresh seed each time).", "int", 1),
        CommandSpec("branch", "/branch POSITION ALTERNATIVE",
                    "Continue the last generation from another token: at token POSITION take its ALTERNATIVE-th "
                    "most likely one (1 = the top alternative), or id=N, or text=T; the new branch is sampled "
                    "with the same settings and seed.", "", 2),
        CommandSpec("branches", "/branches [N | sample S | save FILE | open FILE]",
                    "The branch tree of the last generation's sample in view (each sample has its own): each "
                    "branch's path and total log-probability; N goes to branch N, sample S to sample S's tree; "
                    "save and open keep every sample's tree as JSON.", "", 2),
        CommandSpec("quit", "/quit", "Leave (Ctrl-D works too).", "", 0, ("exit", "q")),
        CommandSpec("lens", "/lens N [SAMPLE]",
                    "Logit lens of token N of the last generation (N as in its # column): what each layer "
                    "would have predicted there.", "", 2),
        CommandSpec("timelapse", "/timelapse [TEXT]",
                    "Play the loaded run's checkpoint history back: the sample each checkpoint writes for the "
                    "prompt (one seed for all) and the surprisal of TEXT (default: the text in view) under each.",
                    "", None),
        CommandSpec("cuts", "/cuts N [SAMPLE]",
                    "The sampler's cuts at token N of the last generation: its distribution raw, after "
                    "temperature, after top-k and after top-p.", "", 2),
    )
}

_ALIASES: dict[str, str] = {alias: spec.name for spec in COMMANDS.values() for alias in spec.aliases}


@dataclass
class Command:
    """A parsed slash command: canonical ``name`` (no slash), its ``args``, and the ``raw`` line."""

    name: str
    args: list[str]
    raw: str


def command_names() -> list[str]:
    return list(COMMANDS)


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return close[0] if close else None


def lookup(name: str) -> CommandSpec:
    """The spec of command ``name`` (with or without slash, aliases allowed); TinyGPTError if unknown."""
    key = name.lstrip("/").lower()
    key = _ALIASES.get(key, key)
    if key in COMMANDS:
        return COMMANDS[key]
    listing = ", ".join(f"/{n}" for n in COMMANDS)
    close = _suggest(key, list(COMMANDS) + list(_ALIASES))
    hint = f"did you mean /{_ALIASES.get(close, close)}? " if close else ""
    raise TinyGPTError(f"Unknown command '/{key}'.", f"{hint}Commands: {listing}.")


def parse(line: str) -> Command | None:
    """Parse one input line: a :class:`Command` for ``/name args...``, None for a plain prompt.

    Arguments are split like a shell does, so ``/params stop="The end"`` keeps the space; a command
    that ends in a text (``text_after``) takes the rest of the line as typed. Raises
    TinyGPTError for an unknown command, too many arguments or unbalanced quotes.
    """
    stripped = line.strip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    head, _, rest = stripped[1:].partition(" ")
    if not head:
        raise TinyGPTError("A lone '/' is not a command.", "type /help for the list of commands.")
    spec = lookup(head)
    if spec.text_after is not None:  # a text at the end, as typed: "/versus other It's a cat."
        words = rest.split(maxsplit=spec.text_after)
        return Command(spec.name, words, line)
    try:
        args = shlex.split(rest, posix=True) if rest.strip() else []
    except ValueError as e:
        raise TinyGPTError(f"Cannot read the arguments of /{spec.name}: {e}.",
                           "close the quotes, e.g. stop=\"The end\".") from None
    if spec.max_args is not None and len(args) > spec.max_args:
        extra = "takes no arguments" if spec.max_args == 0 else f"takes at most {spec.max_args} argument(s)"
        raise TinyGPTError(f"/{spec.name} {extra}.", f"usage: {spec.usage}")
    return Command(spec.name, args, line)


def prompt_text(line: str) -> str:
    """The prompt a plain line stands for: ``//x`` means the prompt ``/x``."""
    stripped = line.lstrip()
    return stripped[1:] if stripped.startswith("//") else line


def help_rows(name: str | None = None) -> list[tuple[str, str]]:
    """``(usage, help)`` rows for every command, or for the one named."""
    specs = [lookup(name)] if name else list(COMMANDS.values())
    rows = []
    for spec in specs:
        extra = f" (also /{', /'.join(spec.aliases)})" if spec.aliases else ""
        rows.append((spec.usage, spec.help + extra))
    return rows


# --------------------------------------------------------------------------------------------------
# /params

PARAM_HELP: dict[str, str] = {
    "temperature": "randomness: 0 is greedy, 1 the model's own distribution, higher flatter",
    "top_k": "sample among the k most likely tokens (0: all)",
    "top_p": "sample among the smallest set of tokens whose probability reaches p (1: all)",
    "max_new_tokens": "tokens to generate per sample",
    "num_samples": "samples per prompt",
    "seed": "sampling seed (none: a fresh one each time)",
    "alternatives": "top alternatives shown per token",
    "stop": "stop after this text appears (repeat stop=... for several; stop= clears)",
}

PARAM_ALIASES: dict[str, str] = {
    "temp": "temperature",
    "t": "temperature",
    "k": "top_k",
    "topk": "top_k",
    "p": "top_p",
    "topp": "top_p",
    "tokens": "max_new_tokens",
    "max_tokens": "max_new_tokens",
    "n_tokens": "max_new_tokens",
    "new_tokens": "max_new_tokens",
    "length": "max_new_tokens",
    "samples": "num_samples",
    "n_samples": "num_samples",
    "n": "num_samples",
    "alts": "alternatives",
    "top": "alternatives",
    "stops": "stop",
}


def param_names() -> list[str]:
    """Canonical names of the sampling settings, in display order."""
    return [f.name for f in dataclasses.fields(SamplingConfig)]


def canonical_param(name: str) -> str:
    """The SamplingConfig field ``name`` means (aliases such as ``temp``, ``k``, ``tokens`` allowed)."""
    key = name.strip().lower().replace("-", "_")
    key = PARAM_ALIASES.get(key, key)
    if key in param_names():
        return key
    close = _suggest(key, param_names() + list(PARAM_ALIASES))
    hint = f"did you mean {PARAM_ALIASES.get(close, close)}? " if close else ""
    raise ConfigError(f"'{name}' is not a sampling setting.", f"{hint}Settings: {', '.join(param_names())}.")


def _unescape(text: str) -> str:
    """Turn ``\\n`` and ``\\t`` typed in a stop string into the characters they name."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def apply_params(params: SamplingConfig, assignments: list[str]) -> SamplingConfig:
    """A new, validated SamplingConfig: ``params`` with each ``name=value`` of ``assignments`` applied.

    Several ``stop=...`` in one call collect into a list; ``stop=`` alone clears the stop strings;
    ``seed=none`` (or ``random``) draws a fresh seed per generation. Raises ConfigError (a
    TinyGPTError) naming the first bad assignment; ``params`` itself is never modified.
    """
    changes: dict[str, object] = {}
    stops: list[str] | None = None
    for item in assignments:
        name, eq, raw = item.partition("=")
        if not eq:
            raise ConfigError(f"'{item}' is not an assignment.", "write name=value, e.g. temperature=0.7.")
        key = canonical_param(name)
        if key == "stop":
            stops = stops if stops is not None else []
            if raw and raw.lower() not in ("none", "null"):
                stops.append(_unescape(raw))
            continue
        if key == "seed" and raw.strip().lower() in ("random", "none", "null", ""):
            changes["seed"] = None
            continue
        if not raw.strip():
            raise ConfigError(f"{key} needs a value.", f"e.g. {key}={getattr(SamplingConfig(), key)}.")
        try:
            value = coerce_value(SamplingConfig, key, raw)
        except ConfigError as e:
            raise ConfigError(f"'{raw}' is not a valid value for {key}.", e.hint) from None
        changes[key] = value
    if stops is not None:
        changes["stop"] = stops
    return dataclasses.replace(params, **changes)  # __post_init__ validates the whole result


def params_rows(params: SamplingConfig) -> list[tuple[str, str, str]]:
    """``(name, value, help)`` rows for showing the sampling settings."""
    rows = []
    for name in param_names():
        value = getattr(params, name)
        if name == "stop":
            shown = ", ".join(repr(s) for s in value) if value else "(none)"
        elif name == "seed" and value is None:
            shown = "random"
        else:
            shown = str(value)
        rows.append((name, shown, PARAM_HELP.get(name, "")))
    return rows


# --------------------------------------------------------------------------------------------------
# Completion


def completions(text: str, run_names: Iterable[str] = ()) -> list[str]:
    """Candidates for the last word of ``text`` (what is typed before the cursor).

    ``/pa`` -> ``/params``; ``/params te`` -> ``temperature=``; ``/load q`` -> run names starting with
    q; ``/help p`` -> command names. Returns whole words that replace the last word.
    """
    if not text.lstrip().startswith("/") or text.lstrip().startswith("//"):
        return []
    stripped = text.lstrip()
    if " " not in stripped:
        word = stripped[1:].lower()
        return [f"/{n}" for n in COMMANDS if n.startswith(word)]
    head, _, rest = stripped[1:].partition(" ")
    try:
        spec = lookup(head)
    except TinyGPTError:
        return []
    words = rest.split(" ")
    word = words[-1]
    if spec.max_args is not None and len(words) > spec.max_args:
        return []
    if spec.arg == "params":
        if "=" in word:
            return []
        low = word.lower()
        return [f"{n}=" for n in param_names() if n.startswith(low)]
    if spec.arg == "runs":
        return sorted(n for n in run_names if n.startswith(word))
    if spec.arg == "save":
        if len(words) == 1:
            return [k for k in SAVE_KINDS if k.startswith(word.lower())]
        if len(words) == 3 and words[0].lower() == "metrics":
            return sorted(n for n in run_names if n.startswith(word))
        return []
    if spec.arg == "commands":
        return [n for n in COMMANDS if n.startswith(word.lstrip("/").lower())]
    if spec.arg == "int" and "random".startswith(word.lower()) and word:
        return ["random"]
    return []


def format_params(params: SamplingConfig) -> str:
    """``temperature=0.8 top_k=50 …`` for the status line and /params."""
    seed = "fresh" if params.seed is None else params.seed
    stop = f" stop={','.join(params.stop)}" if params.stop else ""
    return (f"temperature={params.temperature:g} top_k={params.top_k} top_p={params.top_p:g} "
            f"max_new_tokens={params.max_new_tokens} num_samples={params.num_samples} seed={seed}"
            f" alternatives={params.alternatives}{stop}")


def nproc_arg(args: list[str]) -> tuple[list[str], int]:
    """The arguments without an ``nproc=N`` one, and N (1 when absent): how many training processes."""
    rest, nproc = [], 1
    for arg in args:
        if arg.startswith("nproc="):
            value = arg.split("=", 1)[1]
            if not value.isdigit() or int(value) < 1:
                raise TinyGPTError(f"nproc must be a whole number of processes, not '{value}'.", "e.g. nproc=2.")
            nproc = int(value)
        else:
            rest.append(arg)
    return rest, nproc


def continue_args(args: list[str]) -> tuple[int | None, float | None, str | None]:
    """``/continue [N|TIME] [RUN]``, in any order: (more steps, more seconds, run name); Nones for what
    was not given. Shared by the REPL and the app."""
    from .units import parse_budget

    steps = seconds = None
    run = None
    for arg in args:
        try:
            steps, seconds = parse_budget(arg)
        except ValueError:
            run = arg
    return steps, seconds, run


def token_args(args: list[str]) -> tuple[int, int]:
    """``/lens N [SAMPLE]`` and ``/cuts N [SAMPLE]``: the token's index (N as shown, from 1, as every
    face numbers tokens; 0-based here) and the sample's index (SAMPLE from 1, default the first;
    0-based here). Shared by the REPL and the app."""
    if not args:
        raise TinyGPTError("Which token?", "give its number (the # column, from 1), e.g. /lens 3 (or /lens 3 2 "
                           "for sample 2).")
    numbers = []
    for arg, what in zip(args, ("token number", "sample number"), strict=False):
        if not arg.isdigit():
            raise TinyGPTError(f"'{arg}' is not a {what}.", "e.g. /lens 3, or /lens 3 2 for token 3 of sample 2.")
        numbers.append(int(arg))
    token = numbers[0]
    sample = numbers[1] if len(numbers) > 1 else 1
    if token < 1:
        raise TinyGPTError("Tokens are numbered from 1.", "e.g. /lens 1 for the first generated token.")
    if sample < 1:
        raise TinyGPTError("Samples are numbered from 1.", "e.g. /lens 3 1 for token 3 of the first sample.")
    return token - 1, sample - 1


# --------------------------------------------------------------------------------------------------
# /branch and /branches


def branch_args(args: list[str]) -> tuple[int, str]:
    """``/branch POSITION ALTERNATIVE``: the 0-based position (POSITION as shown, from 1) and the
    alternative as typed (see :func:`pick_alternative`)."""
    if len(args) != 2:
        raise TinyGPTError("/branch takes a token position and an alternative.",
                           "e.g. /branch 5 2: at token 5, the second most likely token.")
    if not args[0].isdigit() or int(args[0]) < 1:
        raise TinyGPTError(f"'{args[0]}' is not a token position.", "positions are whole numbers from 1.")
    return int(args[0]) - 1, args[1]


def pick_alternative(record, spec: str, encode) -> int:
    """The token id ``spec`` names at ``record``: ``K`` the K-th of its alternatives (1 = most likely),
    ``id=N`` token id N, ``text=T`` the one token whose text is T (``encode`` turns text into ids)."""
    alts = list(getattr(record, "alternatives", []) or [])
    if spec.isdigit():
        k = int(spec)
        if not 1 <= k <= len(alts):
            raise TinyGPTError(f"That token has {len(alts)} alternatives shown, not {k}.",
                               f"pick 1 to {len(alts)}, or id=N for any token.")
        return alts[k - 1].id
    name, eq, value = spec.partition("=")
    if eq and name == "id" and value.isdigit():
        return int(value)
    if eq and name == "text" and value:
        ids = encode(value.replace("\\n", "\n"))
        if len(ids) != 1:
            raise TinyGPTError(f"{value!r} is {len(ids)} tokens, not one.", "pick one token, or its id=N.")
        return ids[0]
    raise TinyGPTError(f"'{spec}' is not an alternative.", "write its rank (1, 2...), id=N or text=T.")


def branches_args(args: list[str]) -> tuple[str, str | int | None]:
    """``/branches [N | sample S | save FILE | open FILE]`` as (``list`` | ``go`` | ``sample`` | ``save`` |
    ``open``, its value); ``sample``'s value is 0-based (S as shown, from 1)."""
    if not args:
        return "list", None
    if len(args) == 1 and args[0].isdigit():
        return "go", int(args[0])
    if len(args) == 2 and args[0] == "sample":
        if not args[1].isdigit() or int(args[1]) < 1:
            raise TinyGPTError(f"'{args[1]}' is not a sample number.", "samples are numbered from 1: /branches sample 2.")
        return "sample", int(args[1]) - 1
    if len(args) == 2 and args[0] in ("save", "open"):
        return args[0], args[1]
    raise TinyGPTError(f"/branches does not know '{' '.join(args)}'.",
                       "write /branches, /branches N, /branches sample S, /branches save FILE or /branches open FILE.")


SAVE_KINDS = ("samples", "tokens", "metrics")
"""What /save writes (tables.KINDS; repeated here so that parsing needs no table code)."""


def save_args(args: list[str]) -> tuple[str, str, str | None]:
    """``/save KIND FILE [RUN]``: (kind, file, run or None). Only metrics belong to a run; samples and
    tokens are the last generation's. Shared by the REPL and the app."""
    usage = "e.g. /save tokens tokens.csv, /save samples samples.json or /save metrics metrics.csv."
    if len(args) < 2:
        raise TinyGPTError("/save needs what to save and a file name.", usage)
    kind = args[0].lower()
    if kind not in SAVE_KINDS:
        close = _suggest(kind, SAVE_KINDS)
        hint = f"did you mean {close}? " if close else ""
        raise TinyGPTError(f"/save cannot save '{args[0]}'.", f"{hint}It saves {', '.join(SAVE_KINDS)}.")
    run = args[2] if len(args) > 2 else None
    if run is not None and kind != "metrics":
        raise TinyGPTError(f"/save {kind} takes no run: it saves the last generation.",
                           "e.g. /save tokens tokens.csv (only /save metrics FILE RUN names a run).")
    return kind, args[1], run
