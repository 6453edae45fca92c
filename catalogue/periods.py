"""Reporting periods: calendar quarters (`2026Q3`) and the life of the programme (`LOP`)."""

import datetime as dt
from dataclasses import dataclass

from catalogue.model import LIFE_OF_PROGRAMME, Programme


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    end: dt.date
    code: str
    kind: str
    """`quarter` or `lop`."""


def _split(code: str) -> tuple[int, int]:
    year, quarter = code.split("Q")
    return int(year), int(quarter)


def quarter_bounds(code: str) -> tuple[dt.date, dt.date]:
    """First and last day of a quarter such as `2026Q3`."""
    year, quarter = _split(code)
    start = dt.date(year, 3 * quarter - 2, 1)
    end_month_next = dt.date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
    return start, end_month_next - dt.timedelta(days=1)


def quarter_of(day: dt.date) -> str:
    """The quarter a date falls in: how an activity date places a submission in a period."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarters_between(first: str, last: str) -> list[str]:
    """Every quarter from first to last, both included."""
    year, quarter = _split(first)
    end = _split(last)
    codes = []
    while (year, quarter) <= end:
        codes.append(f"{year}Q{quarter}")
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return codes


def programme_periods(programme: Programme) -> list[Period]:
    """The programme's quarters in order, then its life-of-programme period."""
    periods = [
        Period(*quarter_bounds(code), code=code, kind="quarter")
        for code in quarters_between(programme.first_period, programme.last_period)
    ]
    periods.append(Period(programme.start, programme.end, LIFE_OF_PROGRAMME, "lop"))
    return periods
