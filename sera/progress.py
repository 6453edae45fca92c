"""Progress of long commands: a live line per item on a terminal, nothing extra otherwise (logs say enough)."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Report = Callable[[str, str], None]
"""report(item, text): the latest state of one item (a form being synced, a form being deployed)."""


@contextmanager
def progress() -> Iterator[Report]:
    """A `report` callback drawing live lines when stderr is a terminal, and doing nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda _item, _text: None
        return
    tasks: dict[str, int] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:

        def report(item: str, text: str) -> None:
            if item not in tasks:
                tasks[item] = bar.add_task(f"{item}: {text}")
            bar.update(tasks[item], description=f"{item}: {text}")

        yield report
