"""Progress of `sera demo` on the console: a bar per form on a terminal, plain lines otherwise.

A million submissions take minutes; a person at a terminal wants to see them advance, while a log or a pipe wants
a few readable lines (each form's end, and each tenth of a large run), not a bar redrawn thousands of times.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from analysis.demo import Progress

LARGE = 100_000
"""From this many submissions, plain output also reports each tenth of a form."""


@contextmanager
def console_progress(total: int, echo: Callable[[str], Any], *, terminal: bool | None = None) -> Iterator[Progress]:
    """A `generate_demo` progress callback; a rich bar when stdout is a terminal (or `terminal` says so)."""
    if sys.stdout.isatty() if terminal is None else terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns) as bar:
            tasks: dict[str, Any] = {}

            def update(form_id: str, done: int, of: int) -> None:
                if form_id not in tasks:
                    tasks[form_id] = bar.add_task(form_id, total=of)
                bar.update(tasks[form_id], completed=done)

            yield update
        return
    shown: dict[str, int] = {}

    def line(form_id: str, done: int, of: int) -> None:
        tenth = 10 * done // max(of, 1)
        if done == of or (total >= LARGE and tenth > shown.get(form_id, 0)):
            shown[form_id] = tenth
            echo(f"{form_id}: {done:,}/{of:,}")

    yield line
