"""Reading answers out of raw submission JSON, and typing them, the same way for Kobo and ODK Central.

Kobo rows are flat: keys are XPaths (`details/activity_date`), repeat instances are dicts keyed by full XPaths
(`period_report/reached/reached_sex`), and every answer is a string. ODK Central OData rows nest groups as
objects, repeat instances use short keys, and numbers are JSON numbers. Each platform's layout is tried first,
the other one next, so a row from either gives the same typed answers.
"""

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

Path = tuple[str, ...]

_INT = re.compile(r"^-?(0|[1-9]\d*)$")
_DECIMAL = re.compile(r"^-?(0|[1-9]\d*)?\.\d+$|^-?(0|[1-9]\d*)\.$")


def _nested(scope: Mapping[str, Any], relative: Path) -> Any:
    node: Any = scope
    for part in relative:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def lookup(scope: Mapping[str, Any], scope_path: Path, path: Path, platform: str) -> Any:
    """The raw answer at a question's full `path`, read in `scope` (the row, or a repeat instance at `scope_path`)."""
    relative = path[len(scope_path) :]
    flat_full = scope.get("/".join(path))
    flat_relative = scope.get("/".join(relative)) if relative != path else None
    nested = _nested(scope, relative)
    order = (flat_full, flat_relative, nested) if platform == "kobo" else (nested, flat_full, flat_relative)
    return next((value for value in order if value is not None), None)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    text = str(value).strip()
    if _INT.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    if number is None:
        return None
    if isinstance(number, float):
        return int(number) if number.is_integer() else None
    return number


def _date(value: Any) -> dt.date | None:
    text = str(value).strip()[:10]
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _datetime(value: Any) -> dt.datetime | dt.date | None:
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _date(text)


def _calculated(value: Any) -> Any:
    """A calculate has no declared type: numbers become numbers, but a code such as `02` stays text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if _INT.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    return text


def typed(value: Any, question_type: str) -> Any:
    """An answer as the analysis uses it: int, float, date, datetime, a list of codes, or text; None if empty.

    An answer that does not read as its type (`abc` for an integer) is None: a data quality finding, not a 0.
    """
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, Mapping):
        return dict(value)  # a geopoint as GeoJSON: kept as it is
    match question_type:
        case "integer":
            return _integer(value)
        case "decimal" | "range":
            number = _number(value)
            return None if number is None else float(number)
        case "calculate":
            return _calculated(value)
        case "select_multiple":
            codes = value if isinstance(value, list) else str(value).split()
            return [str(code) for code in codes if str(code) != ""] or None
        case "date" | "today":
            return _date(value)
        case "datetime" | "start" | "end":
            return _datetime(value)
        case _:
            return str(value).strip() or None


def as_date(value: Any) -> dt.date | None:
    """The day of a typed date or datetime answer (a device datetime keeps its own, local, day)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None if value is None else _date(value)


def to_json(value: Any) -> Any:
    """A typed answer as JSON can keep it (dates as ISO text)."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
