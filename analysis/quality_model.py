"""What a data quality finding is, the thresholds the checks use, and the small tools every check shares.

`analysis.quality` is the public face (it re-exports `CHECKS` and `Finding`); the checks live in
`analysis.quality_*` modules and build their findings with the tools here, so each reads the same way.
"""

import datetime as dt
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from catalogue.model import Catalogue, FormSpec, Question, Text, walk_questions
from catalogue.periods import quarter_bounds

CHECKS: tuple[str, ...] = (
    "missing_report",
    "late_submission",
    "duplicate_person",
    "duplicate_report",
    "out_of_range",
    "outlier",
    "disaggregation_total",
    "unknown_form_version",
    "unstorable_value",
)
"""The checks, in display order."""

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

LATE_AFTER_DAYS = 30
"""A submission received by the server more than this many days after its activity date is late (offline phone,
or a partner report past the 30 days its convention gives)."""
REPORT_GRACE_DAYS = 30
"""A quarter's reports are due this many days after its last day; a missing report is flagged only after that."""
SHORT_FIRST_QUARTER_DAYS = 45
"""A grant signed less than this many days before the end of a quarter reports on that stub with the next quarter."""
OUTLIER_THRESHOLD = 3.5
"""Modified z-score |x − median| / (1.4826 · MAD) above which a value is an outlier (Iglewicz and Hoaglin)."""
OUTLIER_MIN_SAMPLE = 20
"""Fewer values than this in the reference sample of a question: no outlier is judged."""
OUTLIER_WINDOW = 4
"""Quarters in an outlier's reference sample: the quarter judged and the ones before it (a rolling year), so a
form with a few submissions a quarter (ten grants report each quarter) can still be judged."""
MAX_LISTED = 100
"""At most this many submission ids on one finding (its message gives the full count)."""
SHOWN_VALUES = 5
"""At most this many offending values quoted in a message."""
SHOWN_KEPT = 50
"""Distinct values a finding keeps to quote (the lowest SHOWN_VALUES of them are quoted)."""


@dataclass(frozen=True)
class Finding:
    """One thing a SERA officer should look at: what is wrong, where, and what to do."""

    check: str
    """One of CHECKS."""
    severity: str
    """`error` (a figure is wrong or missing), `warning` (probably wrong, check it) or `info`."""
    period: str
    """The quarter the finding belongs to: the activity date's, or the one a report is owed for."""
    form_id: str | None
    partner: str | None
    """The partner organisation's code when the finding is attributable to one, else None."""
    subject: str
    """What it is about, readable and non-personal: `grant AAP1-03`, `question reached_count`."""
    message: Text
    """What is wrong and what to do, in French and Arabic."""
    submissions: tuple[str, ...] = ()
    """Remote ids (Kobo `_id`, ODK `__id`) of the submissions concerned; never a person key or a name."""
    value: float | None = None
    """The offending number, when there is one (days late, the value out of range, the gap to the total)."""


def sort_key(finding: Finding) -> tuple[int, str, str, str, int, str]:
    """CHECKS order, then form, partner and subject; severity and period break the remaining ties."""
    return (
        CHECKS.index(finding.check),
        finding.form_id or "",
        finding.partner or "",
        finding.subject,
        SEVERITIES.index(finding.severity),
        finding.period,
    )


# --- time ------------------------------------------------------------------------------------------------


def quarter_start(period: str) -> dt.date:
    return quarter_bounds(period)[0]


def quarter_end(period: str) -> dt.date:
    return quarter_bounds(period)[1]


def next_quarter(period: str) -> str:
    year, quarter = (int(part) for part in period.split("Q"))
    return f"{year + 1}Q1" if quarter == 4 else f"{year}Q{quarter + 1}"


def previous_quarters(period: str, count: int) -> list[str]:
    """The `count` quarters before `period`, latest first."""
    year, quarter = (int(part) for part in period.split("Q"))
    found = []
    for _ in range(count):
        year, quarter = (year - 1, 4) if quarter == 1 else (year, quarter - 1)
        found.append(f"{year}Q{quarter}")
    return found


def report_deadline(period: str) -> dt.date:
    """The last day a quarter's reports are on time."""
    return quarter_end(period) + dt.timedelta(days=REPORT_GRACE_DAYS)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def quarter_fr(period: str) -> str:
    year, quarter = period.split("Q")
    return f"T{quarter} {year}"


def quarter_ar(period: str) -> str:
    year, quarter = period.split("Q")
    return f"الربع {quarter} من سنة {year}"


def date_text(day: dt.date) -> str:
    return f"{day:%d/%m/%Y}"


def number_text(value: float) -> str:
    """A number as a message shows it: integers without decimals, others with at most two."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def values_text(values: Iterable[float | dt.date]) -> str:
    """The first offending values, sorted, for a message (`12, 40, 7 000…`)."""
    ordered = sorted(set(values), key=lambda v: (str(type(v)), v))
    shown = [date_text(v) if isinstance(v, dt.date) else number_text(v) for v in ordered[:SHOWN_VALUES]]
    return ", ".join(shown) + ("…" if len(ordered) > SHOWN_VALUES else "")


# --- the catalogue, as the checks read it ----------------------------------------------------------------


def question_label(question: Question | None, name: str) -> tuple[str, str]:
    """The French and Arabic labels of a question (its name when it has no label, as calculates do)."""
    if question is None or question.label is None:
        return name, name
    return question.label.fr, question.label.ar


def form_questions(form: FormSpec) -> dict[str, Question]:
    """Every question of a form by name (the first if a name repeats)."""
    found: dict[str, Question] = {}
    for _path, question in walk_questions(form.questions):
        found.setdefault(question.name, question)
    return found


@dataclass(frozen=True)
class Scope:
    """What every check of one run shares: the quarter asked for, its dates, and the observation time."""

    catalogue: Catalogue
    period: str
    clock: dt.datetime
    """When the data is looked at: `now`, or later if the server already received something later."""

    @cached_property
    def start(self) -> dt.date:
        return quarter_start(self.period)

    @cached_property
    def end(self) -> dt.date:
        return quarter_end(self.period)

    @cached_property
    def deadline(self) -> dt.date:
        return report_deadline(self.period)

    @cached_property
    def forms(self) -> dict[str, FormSpec]:
        return {form.id: form for form in self.catalogue.forms}


@dataclass
class Group:
    """Submissions that share one finding (same check, form, partner and subject), gathered as they are read.

    Memory stays bounded however many submissions a group has: it keeps at most twice MAX_LISTED submission ids
    (the first ones in id order), the extremes of its numbers, its last date and a few distinct values to quote.
    """

    count: int = 0
    """Answers (or submissions) counted, repeats included."""
    low: float | None = None
    high: float | None = None
    last_day: dt.date | None = None
    shown: set[float | dt.date] = field(default_factory=set)
    _ids: set[str] = field(default_factory=set)

    def add(self, remote_id: str, value: float | None = None, day: dt.date | None = None) -> None:
        self.count += 1
        self._keep(remote_id)
        for quoted in (value, day):
            if quoted is not None and len(self.shown) < SHOWN_KEPT:
                self.shown.add(quoted)
        if value is not None:
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        if day is not None and (self.last_day is None or day > self.last_day):
            self.last_day = day

    def _keep(self, remote_id: str) -> None:
        self._ids.add(remote_id)
        if len(self._ids) > 2 * MAX_LISTED:
            self._ids = set(heapq.nsmallest(MAX_LISTED, self._ids, key=_id_order))

    def listed(self) -> tuple[str, ...]:
        """The submission ids, numerically where they are numbers (Kobo), at most MAX_LISTED (the first ones)."""
        return tuple(heapq.nsmallest(MAX_LISTED, self._ids, key=_id_order))

    def worst(self, reference: float = 0.0) -> float | None:
        """The value farthest from `reference` (the largest delay, the biggest gap)."""
        if self.low is None or self.high is None:
            return None
        return self.low if abs(self.low - reference) > abs(self.high - reference) else self.high


def _id_order(remote_id: str) -> tuple[int, int, str]:
    return (0, int(remote_id), "") if remote_id.isdigit() else (1, 0, remote_id)


def count_fr(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
