"""The REPL's input: where its history is kept, Tab completion of slash commands, ``/params`` names
and run names, and the keys for a prompt of several lines."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.key_binding import KeyBindings

from . import commands
from .config import TinyGPTError


def history_path() -> Path:
    """Where the REPL keeps its input history: ``$TINYGPT_HISTORY`` or ``~/.tinygpt_history``."""
    return Path(os.environ.get("TINYGPT_HISTORY") or Path.home() / ".tinygpt_history")


class SlashCompleter(Completer):
    """Completes slash commands, ``/params`` setting names and ``/load`` run names."""

    def __init__(self, run_names: Any):
        self._run_names = run_names  # a callable returning the current run names
        self._cache: tuple[float, list[str]] = (0.0, [])

    def names(self) -> list[str]:
        stamp, names = self._cache
        if time.monotonic() - stamp > 2.0:  # the run list changes rarely; do not rescan per keystroke
            try:
                names = sorted(self._run_names())
            except (TinyGPTError, OSError):
                names = []
            self._cache = (time.monotonic(), names)
        return names

    def get_completions(self, document, complete_event) -> Iterable[Completion]:
        text = document.text_before_cursor
        if "\n" in text:
            return
        word = text.split(" ")[-1]
        for candidate in commands.completions(text, self.names()):
            yield Completion(candidate, start_position=-len(word))


def key_bindings() -> KeyBindings:
    """Enter submits; a trailing backslash, or Esc then Enter, starts a new line."""
    kb = KeyBindings()

    @kb.add("escape", "enter")
    def _newline(event) -> None:  # Esc then Enter: a new line inside the prompt
        event.current_buffer.insert_text("\n")

    @kb.add("enter")
    def _enter(event) -> None:
        buf = event.current_buffer
        if buf.document.text_before_cursor.endswith("\\"):
            # a trailing backslash continues the prompt on a new line, as in a shell
            buf.delete_before_cursor(1)
            buf.insert_text("\n")
        else:
            buf.validate_and_handle()

    return kb
