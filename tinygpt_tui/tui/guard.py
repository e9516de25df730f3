"""Failures in the app's own handlers, actions and timers become a report, never an exit.

Textual runs each widget's handlers (``on_*``, ``@on``, ``_on_*``, watchers they set off, the actions a
key binding runs, ``call_later`` callbacks) from that widget's message loop. An exception escaping
one reaches ``App._handle_exception``, which exits the app, and the loop that dispatched it stops for
good (``MessagePump._process_messages_loop`` breaks out), so the widget would no longer answer even
if the app went on. :class:`Guarded` catches the exception one step earlier, around the dispatch of
that one message, and hands it to the app's ``report_failure`` (a notification and a line in the
crash log); the loop then takes the next message as usual.

Timer callbacks (``set_interval``/``set_timer`` with a callback) run outside any dispatch, in the
timer's own task, so they are wrapped the same way when set.

The hook is ``MessagePump._dispatch_message``, private to Textual: ``tests/test_guard.py`` checks that
it is still the method the loop calls, so an upgrade that renames it fails a test rather than
silently bringing exits back.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from textual.message import Message
from textual.timer import Timer

TimerCallback = Callable[[], Any]


def report(node: Any, error: Exception) -> None:
    """Give ``error`` to the app's ``report_failure``; re-raise where the app has none (a widget tried
    in a bare test app), so that Textual's default applies there."""
    try:
        reporter = node.app.report_failure
    except Exception:  # no active app, or an app without the hook: Textual's default
        raise error from None
    reporter(error)


class Guarded:
    """Mix in before a Textual class (``class X(Guarded, Static)``): an exception in one of its
    handlers, actions or timer callbacks is reported, and the widget keeps answering."""

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except Exception as error:
            report(self, error)

    def _guard(self, callback: TimerCallback) -> Callable[[], Awaitable[None]]:
        async def guarded() -> None:
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception as error:
                report(self, error)

        return guarded

    def set_interval(self, interval: float, callback: TimerCallback | None = None, **kwargs: Any) -> Timer:
        return super().set_interval(  # type: ignore[misc]
            interval, self._guard(callback) if callback is not None else None, **kwargs)

    def set_timer(self, delay: float, callback: TimerCallback | None = None, **kwargs: Any) -> Timer:
        return super().set_timer(  # type: ignore[misc]
            delay, self._guard(callback) if callback is not None else None, **kwargs)
