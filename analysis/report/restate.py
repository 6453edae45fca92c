"""Restatements: the figures of issued reports that today's values no longer give.

A submission edited or deleted after a quarter was reported, or an offline one that arrived late with an
activity date in that quarter, changes a figure that donors have already read. Reports never change once
issued; instead each later report lists, for the latest issue of every earlier quarter (and the previous issue
of its own quarter), the figures that differ now, with the value reported and the value of today.
"""

from collections.abc import Iterable, Iterator

from analysis.report.content import Figure, IttRow, ReportContent, Restatement

FigureKey = tuple[str, str, str, tuple[tuple[str, str], ...]]
COLUMNS = ("period", "to_date")


def _figures(rows: Iterable[IttRow]) -> dict[FigureKey, tuple[IttRow, Figure | None]]:
    found = {}
    for row in rows:
        for column in COLUMNS:
            key = (row.scope, row.indicator, column, tuple(sorted(row.split.items())))
            found[key] = (row, getattr(row, column))
    return found


def restatements(issued: ReportContent, today: ReportContent) -> Iterator[Restatement]:
    """The figures of `issued` that `today` (the same quarter's content built now) gives differently."""
    assert issued.issue is not None and issued.issued_at is not None, "only an issued report can be restated"
    before = _figures(issued.itt)
    after = _figures(today.itt)
    for key in sorted(before.keys() | after.keys()):
        old_row, old = before.get(key, (None, None))
        new_row, new = after.get(key, (None, None))
        same = old.same_as(new) if old is not None else (new is None or new.same_as(None))
        if same:
            continue
        row = old_row or new_row
        assert row is not None
        yield Restatement(
            report_period=issued.period,
            issue=issued.issue,
            issued_at=issued.issued_at,
            scope=row.scope,
            indicator=row.indicator,
            column=key[2],
            split=row.split,
            split_label=row.split_label,
            reported=old,
            current=new,
        )
