"""What every face shows, decided once: a token's label, its colour band, an error's sentence.

Ground layer: no Textual, Rich, prompt-toolkit or torch here. The faces (the CLI, the Textual app,
the REPL) turn these facts into their own styles; because they all ask this module, a token that is
red in the CLI is red in the app, and an error reads the same everywhere.

- :func:`token_label`, :func:`hex_label`, :func:`visible`: the visible form of a token's bytes.
- :data:`PROB_BANDS` and :func:`prob_band`: THE probability colour scale (four bands, split at 5%,
  20% and 50%), also used for attention weights.
- :data:`SURPRISAL_BANDS` and :func:`surprisal_band`: the scale of scored text, in bits.
- :func:`error_sentence` and :func:`error_line`: a user error as a sentence and its hint;
  :func:`failure_line`: any error a worker caught.
- :func:`short_path`: a path as a face prints it; :func:`source_label`: a data source spec for a header.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------------
# Token labels


def token_label(data: bytes) -> str:
    """A token's own text, or its bytes as ``<e2 80>`` when they are not valid UTF-8 by themselves.

    A byte-level BPE token can hold part of a character; decoding it alone would show U+FFFD, which
    hides what the token is. The hex form says exactly which bytes it carries.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "<" + data.hex(" ") + ">"


def hex_label(hex_bytes: str, text: str = "") -> str:
    """:func:`token_label` of bytes written as hex (``"e2 80"``); ``text`` when they cannot be read
    (or there are none, as for a special token)."""
    try:
        data = bytes.fromhex(hex_bytes)
    except ValueError:
        return text
    return token_label(data) if data else text


# how whitespace inside a token is written where it must be seen: the app draws arrows, the text
# faces (CLI and REPL, which are copied and pasted) write escapes
ARROWS = {"\n": "↵", "\t": "→"}
ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def visible(text: str, marks: dict[str, str] = ARROWS) -> str:
    """``text`` with its newlines and tabs (and, with :data:`ESCAPES`, carriage returns) made visible."""
    for char, mark in marks.items():
        text = text.replace(char, mark)
    return text


# --------------------------------------------------------------------------------------------------
# Colour bands


@dataclass(frozen=True)
class Band:
    """One step of a colour scale: values in ``[low, high)`` (in the scale's unit).

    ``index`` 0 is the worst news for the model (unlikely, surprising), the last the best.
    ``colour`` is a colour name both Rich and Textual understand; a face may map ``name`` to its own.
    """

    index: int
    name: str
    low: float
    high: float
    colour: str
    label: str


PROB_BANDS: tuple[Band, ...] = (
    Band(0, "unlikely", 0.0, 0.05, "red", "<5%"),
    Band(1, "possible", 0.05, 0.2, "dark_orange", "5-20%"),
    Band(2, "likely", 0.2, 0.5, "yellow", "20-50%"),
    Band(3, "expected", 0.5, math.inf, "green", ">=50%"),
)
"""The probability scale of every face, least likely first. ``p`` falls in the band whose ``low``
it reaches: 0.05 is "possible", 0.5 "expected"."""

SURPRISAL_BANDS: tuple[Band, ...] = (
    Band(0, "surprising", 6.0, math.inf, "red", ">=6 bits"),
    Band(1, "unexpected", 3.0, 6.0, "dark_orange", "3-6 bits"),
    Band(2, "plausible", 1.0, 3.0, "yellow", "1-3 bits"),
    Band(3, "expected", 0.0, 1.0, "green", "<1 bit"),
)
"""The surprisal scale of scored text, in bits, most surprising first (same colours, same order of
bad to good news as :data:`PROB_BANDS`). 1 bit is "plausible", 6 bits "surprising"."""


def prob_band(p: float) -> Band:
    """The band of probability ``p``; a non-finite ``p`` counts as unlikely."""
    if not isinstance(p, (int, float)) or not math.isfinite(p):
        return PROB_BANDS[0]
    for band in reversed(PROB_BANDS):
        if p >= band.low:
            return band
    return PROB_BANDS[0]


def surprisal_band(bits: float) -> Band:
    """The band of a surprisal of ``bits``; an infinite (or unknown) surprisal is surprising."""
    if not isinstance(bits, (int, float)) or math.isnan(bits):
        return SURPRISAL_BANDS[0]
    for band in reversed(SURPRISAL_BANDS):
        if bits < band.high:
            return band
    return SURPRISAL_BANDS[0]


# --------------------------------------------------------------------------------------------------
# Errors


def error_sentence(err: BaseException) -> tuple[str, str | None]:
    """A user error (``TinyGPTError`` or anything with ``message``/``hint``) as (sentence, hint)."""
    message = getattr(err, "message", None)
    hint = getattr(err, "hint", None)
    return (str(message) if message is not None else str(err)), (str(hint) if hint else None)


_OS_ERRORS = {
    "ENOSPC": ("There is no space left on the device holding {path}.", "free some space, or point --models-dir "
               "or --data-dir at a disk with room; the last checkpoint is kept."),
    "EDQUOT": ("The disk quota is used up where {path} lives.", "free some space, or use another folder."),
    "EROFS": ("{path} is on a read-only file system.", "use a writable folder (--models-dir, --data-dir)."),
    "EACCES": ("Permission denied for {path}.", "check the folder's owner and permissions, or use another one."),
    "EPERM": ("The operation on {path} is not permitted.", "check the folder's owner and permissions."),
    "ENOENT": ("{path} does not exist.", "check the path."),
    "EISDIR": ("{path} is a folder, not a file.", "give a file."),
    "ENOTDIR": ("A part of {path} is not a folder.", "check the path."),
    "EIO": ("Reading or writing {path} failed with an input/output error.", "check the disk."),
}


def os_error(err: OSError) -> tuple[str, str]:
    """An operating-system error (disk full, read-only, permission denied...) as one sentence naming
    the path, and a hint."""
    import errno as errno_names

    path = err.filename if err.filename is not None else "a file"
    name = errno_names.errorcode.get(err.errno or 0, "")
    if name in _OS_ERRORS:
        sentence, hint = _OS_ERRORS[name]
        return sentence.format(path=path), hint
    reason = err.strerror or type(err).__name__
    return f"{reason} ({path}).", "check the path and the disk."


def error_line(message: str | BaseException, hint: str | None = None) -> str:
    """One line for a status bar: ``sentence Hint: hint``. Takes an error, or its two parts (as a
    training ``error`` event carries them)."""
    if isinstance(message, BaseException):
        message, hint = error_sentence(message)
    return message if not hint else f"{message} Hint: {hint}"


def failure_line(err: BaseException, what: str) -> str:
    """One line for an error caught in a worker: a user error (it has a ``message`` and a ``hint``) as
    its sentence and hint; anything else is a bug, said as ``WHAT failed: Type: text`` rather than lost."""
    if hasattr(err, "message") and hasattr(err, "hint"):
        return error_line(err)
    return f"{what} failed: {type(err).__name__}: {err}"


# --------------------------------------------------------------------------------------------------
# Paths


def ended_sentence(done: Any) -> str:
    """How a training ended, in words, from the facts of its ``done`` event
    (:class:`tinygpt_tui.events.Done`): what each face says first, before its own way to go on. An
    older run's event carries its sentence instead of these facts: that sentence, then."""
    if done.message:
        return done.message
    if done.reason == "interrupted":
        if not done.began:
            return "stopped before training began."
        return f"stopped at step {done.step}; checkpoint saved in {done.path}."
    if done.already_trained:
        what = f"{done.max_time:g} s" if done.max_time else f"{done.max_steps} steps"
        return f"run '{done.run}' has already trained for its budget of {what}; continue it to train it further."
    best = f", best validation loss {done.best_val_loss:.4f} ({done.best_val_bpb:.3f} bits/byte)" \
        if done.best_val_loss is not None else ""
    return f"trained {done.step} steps in {done.elapsed_s or 0:.0f} s{best}; weights in {done.path}."


def short_path(path: str | Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter, and stable in tests)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def source_label(spec: str, width: int = 32) -> str:
    """A data source spec for a one-line header: each path in it as :func:`short_path` gives it, and
    one still longer than ``width`` characters as ``…/`` and its last part (the full spec is in the
    run's config.json)."""

    def short(match: re.Match[str]) -> str:
        if ":" in match.group(0).split("/")[0]:  # hf:OWNER/NAME is a name, not a path
            return match.group(0)
        text = short_path(match.group(0))
        return text if len(text) <= width else "…/" + Path(text).name

    return re.sub(r"(?:~|\.{0,2})/[^\s+*?]+|[^\s+*?/]+/[^\s+*?]+", short, spec)
