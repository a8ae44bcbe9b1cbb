"""The one progress callback type of the engine's long steps.

A job calls ``progress(step)`` at the start of every step with a French label
(``"Réseau routier"``), and ``progress(step, done=n, total=N)`` while it counts
items (rows geocoded, services imported). The CLI shows it as a progress bar,
the API ignores it; :func:`silent` is the default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    """Called with a French step label, and optionally how many items are done."""

    def __call__(self, step: str, /, *, done: int | None = None, total: int | None = None) -> None:
        """Report the current step (and ``done`` of ``total`` items when counting)."""


def silent(step: str, /, *, done: int | None = None, total: int | None = None) -> None:
    """A progress callback that shows nothing."""
    return None


def counter(
    progress: Progress | None, step: str, total: int | None = None
) -> Callable[[int], None]:
    """An ``advance(n)`` callable (what the geocoders call per batch of rows) feeding ``progress``.

    Each call adds ``n`` items done and reports ``progress(step, done=, total=)``.
    """
    say = progress or silent
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += int(n)
        say(step, done=done, total=total)

    return advance
