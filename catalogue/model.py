"""The catalogue file format, as typed models.

A catalogue is the SERA officer's results framework written as YAML and kept in git. These models are the
single definition of that format: the YAML reader validates into them, the store loads them into SQL, the
exporters write them back, and the form generator reads form specs from them. Field-level rules live here;
rules that need the whole catalogue (references between sections) live in `catalogue.validation`.
"""

import datetime as dt
import re
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VALUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
PERIOD_PATTERN = r"^(\d{4}Q[1-4]|LOP)$"

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
"""Codes of results, indicators, dimensions, values: stable keys used in SQL, forms and the API."""
ValueCode = Annotated[str, StringConstraints(pattern=VALUE_PATTERN)]
"""Codes of dimension values and choices: official codes such as commune `02.113.01.01` start with a digit."""
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""XLSForm names (questions, choice lists): must be valid XML element names, so stricter than codes."""
PeriodCode = Annotated[str, StringConstraints(pattern=PERIOD_PATTERN)]
LIFE_OF_PROGRAMME = "LOP"
UNKNOWN = "unknown"


class Strict(BaseModel):
    """Base of every catalogue model: unknown keys are errors, values are immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Text(Strict):
    """A text in the programme's two working languages; both are required."""

    fr: Annotated[str, StringConstraints(min_length=1)]
    ar: Annotated[str, StringConstraints(min_length=1)]


class RevisionReason(StrEnum):
    """Why a definition or a target changed (the Mercy Corps list, plus the first edition and corrections)."""

    initial = "initial"
    adaptive_management = "adaptive_management"
    budget_realignment = "budget_realignment"
    context_change = "context_change"
    costed_extension = "costed_extension"
    donor_requirement = "donor_requirement"
    implementation_delays = "implementation_delays"
    error_correction = "error_correction"
    other = "other"


class Revision(Strict):
    """The date and rationale of the current edition of an entity; a change without a new one is refused."""

    date: dt.date
    reason: RevisionReason
    rationale: Annotated[str, StringConstraints(min_length=3)]


class Programme(Strict):
    code: Code
    title: Text
    start: dt.date
    end: dt.date
    first_period: PeriodCode
    last_period: PeriodCode
    donors: list[Annotated[str, StringConstraints(min_length=1)]] = []
    implementer: str | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> "Programme":
        if self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        if LIFE_OF_PROGRAMME in (self.first_period, self.last_period):
            raise ValueError("first_period and last_period must be quarters such as 2026Q1")
        if self.first_period > self.last_period:
            raise ValueError(f"first_period {self.first_period} is after last_period {self.last_period}")
        return self


class ResultLevel(StrEnum):
    impact = "impact"
    outcome = "outcome"
    output = "output"
    activity = "activity"


RESULT_LEVEL_ORDER = {level: rank for rank, level in enumerate(ResultLevel)}


class Risk(Strict):
    text: Text
    likelihood: Literal["low", "medium", "high"] | None = None
    impact: Literal["low", "medium", "high"] | None = None
    mitigation: Text | None = None


class ResultNode(Strict):
    """A node of the results chain: impact → outcomes → outputs → activities."""

    code: Code
    level: ResultLevel
    parent: Code | None = None
    title: Text
    description: Text | None = None
    assumptions: list[Text] = []
    risks: list[Risk] = []
    revision: Revision | None = None


class DimensionValue(Strict):
    code: ValueCode
    label: Text
    parent: ValueCode | None = None
    """The value of the parent dimension this value belongs to (a commune's province, a grant's partner)."""
    attributes: dict[str, str | int | float | bool | None] = {}


class ReferenceSet(StrEnum):
    """Reference data shipped with the product; a dimension may take its values from one of them."""

    regions = "morocco-admin/regions"
    provinces = "morocco-admin/provinces"
    communes = "morocco-admin/communes"


class Dimension(Strict):
    """A disaggregation axis; every dimension carries an explicit `unknown` value."""

    code: Code
    name: Text
    parent: Code | None = None
    reference: ReferenceSet | None = None
    values: list[DimensionValue] = []
    sensitive: bool = False
    revision: Revision | None = None


class MeasureType(StrEnum):
    number = "number"
    percentage = "percentage"
    yes_no = "yes_no"
    ordinal = "ordinal"


class Direction(StrEnum):
    increase = "increase"
    decrease = "decrease"
    maintain = "maintain"


class Frequency(StrEnum):
    quarterly = "quarterly"
    semiannual = "semiannual"
    annual = "annual"
    midterm_endline = "midterm_endline"
    endline = "endline"


class TimeAggregation(StrEnum):
    """How period values combine over time; the most common bug class of M&E tools, so always explicit."""

    sum = "sum"
    """A flow: each period counts its own rows; the life-of-programme value counts all rows, which is the sum of
    the periods for counts and sums, and each unit once for distinct counts (README, "Time aggregation")."""
    cumulative = "cumulative"
    """A running total to date, reported as such (communes with a protocol so far)."""
    latest = "latest"
    """A stock: a period is its own reports; the life-of-programme value adds up each reporter's latest report
    (share of projects with a gender approach, each partner in each region as last reported)."""
    unique_people = "unique_people"
    """People counted once over the programme, however many periods or activities reached them."""


class Aggregation(StrEnum):
    count = "count"
    distinct = "distinct"
    distinct_people = "distinct_people"
    sum = "sum"
    mean = "mean"
    ratio = "ratio"
    gain = "gain"


class Scale(Strict):
    """The levels of an ordinal indicator, lowest first."""

    levels: list[DimensionValue] = Field(min_length=2)


class Baseline(Strict):
    value: float
    numerator: float | None = None
    denominator: float | None = None
    date: dt.date
    source: Text
    comment: Text | None = None


class Target(Strict):
    period: PeriodCode
    value: float
    by: dict[Code, ValueCode] = {}
    """A disaggregated target: dimension code → value code (`{sex: female}`)."""
    comment: Text | None = None


class Reference(Strict):
    """A link to an external indicator framework (IATI vocabulary, EU GERF, SDG, AFD aggregatable indicators)."""

    vocabulary: Literal["iati", "eu_gerf", "sdg", "afd", "programme"]
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    uri: str | None = None


class Term(Strict):
    """One side of a measure: what is counted, summed or averaged over which submissions."""

    aggregation: Literal["count", "distinct", "distinct_people", "sum", "mean"]
    question: Name | None = None
    filter: str | None = None

    @model_validator(mode="after")
    def _question_when_needed(self) -> "Term":
        if self.aggregation in ("sum", "mean", "distinct") and self.question is None:
            raise ValueError(f"aggregation '{self.aggregation}' needs a question")
        if self.aggregation in ("count", "distinct_people") and self.question is not None:
            raise ValueError(f"aggregation '{self.aggregation}' takes no question")
        return self


class Measure(Strict):
    """How an indicator is computed from submissions of one form."""

    form: Name
    aggregation: Aggregation
    question: Name | None = None
    filter: str | None = None
    numerator: Term | None = None
    denominator: Term | None = None
    pre: Name | None = None
    post: Name | None = None

    @model_validator(mode="after")
    def _shape(self) -> "Measure":
        agg = self.aggregation
        if agg is Aggregation.ratio:
            missing = [side for side in ("numerator", "denominator") if getattr(self, side) is None]
            if missing:
                raise ValueError(f"a ratio needs a {' and a '.join(missing)}")
            if self.question is not None:
                raise ValueError("a ratio takes its questions in numerator and denominator, not in question")
        elif self.numerator is not None or self.denominator is not None:
            raise ValueError(f"aggregation '{agg}' takes no numerator or denominator")
        if agg is Aggregation.gain:
            if self.pre is None or self.post is None:
                raise ValueError("aggregation 'gain' needs a pre and a post question")
        elif self.pre is not None or self.post is not None:
            raise ValueError(f"aggregation '{agg}' takes no pre or post question")
        if agg in (Aggregation.sum, Aggregation.mean, Aggregation.distinct) and self.question is None:
            raise ValueError(f"aggregation '{agg}' needs a question")
        if agg in (Aggregation.count, Aggregation.distinct_people, Aggregation.gain) and self.question:
            raise ValueError(f"aggregation '{agg}' takes no question")
        return self


class Indicator(Strict):
    code: Code
    result: Code
    name: Text
    definition: Text
    unit: Text
    measure_type: MeasureType
    scale: Scale | None = None
    direction: Direction
    frequency: Frequency
    data_source: Text
    collection_method: Text
    responsible: Text
    baseline: Baseline
    targets: list[Target] = []
    disaggregations: list[Code] = []
    time_aggregation: TimeAggregation
    references: list[Reference] = []
    measure: Measure
    on_track_tolerance: float | None = Field(default=None, gt=0, lt=1)
    notes: Text | None = None
    revision: Revision | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Indicator":
        problems = []
        if self.measure_type is MeasureType.percentage and self.measure.aggregation is not Aggregation.ratio:
            problems.append("a percentage must be measured as a ratio with a numerator and a denominator")
        if self.measure_type is MeasureType.percentage and self.baseline.denominator is None:
            problems.append("a percentage baseline needs its numerator and denominator")
        if self.measure_type is MeasureType.ordinal and self.scale is None:
            problems.append("an ordinal indicator needs a scale")
        if self.time_aggregation is TimeAggregation.unique_people and (
            self.measure.aggregation is not Aggregation.distinct_people
        ):
            problems.append("time_aggregation 'unique_people' needs a 'distinct_people' measure")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# --- form specs -----------------------------------------------------------------------------------------

QUESTION_TYPES = (
    "text",
    "integer",
    "decimal",
    "date",
    "time",
    "datetime",
    "select_one",
    "select_multiple",
    "select_one_from_file",
    "note",
    "calculate",
    "geopoint",
    "image",
    "audio",
    "file",
    "acknowledge",
    "range",
    "group",
    "repeat",
)
SELECT_TYPES = ("select_one", "select_multiple", "select_one_from_file")
"""Question types that offer choices, and so may have a choice_filter."""
CHOICE_TYPES = ("select_one", "select_multiple")
"""Select types whose choices are a choice list or `dimension:CODE` (`choices`), not a media file."""

FORM_METADATA: tuple[tuple[str, str], ...] = (
    ("start", "start"),
    ("end", "end"),
    ("today", "today"),
    ("deviceid", "deviceid"),
    ("username", "username"),
)
"""(type, name) of the metadata questions the form generator adds to every form, first in the survey sheet.

Spec questions may refer to them as `${name}`, and a form may take one as its activity_date (start, end and
today are dates). pyxform adds `meta/instanceID` (and `instanceName`) on top of these.
"""

RESERVED_QUESTION_NAMES = frozenset(name for _, name in FORM_METADATA) | {"meta", "instanceID", "instanceName"}
"""Names a spec question cannot take: the metadata above and what pyxform generates."""

MEDIA_SUFFIX = ".csv"


def media_file_dimension(filename: str, dimensions: Collection[str]) -> str | None:
    """The dimension a `select_one_from_file` media CSV lists, by name: `<code>.csv` or `<code>s.csv`.

    `communes.csv` ↔ `commune`, `grants.csv` ↔ `grant`; None when the name matches none of `dimensions`.
    """
    if not filename.endswith(MEDIA_SUFFIX):
        return None
    stem = filename.removesuffix(MEDIA_SUFFIX)
    if stem in dimensions:
        return stem
    if stem.endswith("s") and stem[:-1] in dimensions:
        return stem[:-1]
    return None


class Choice(Strict):
    code: ValueCode
    label: Text
    score: float | None = None
    """For scored test questions: the points given for this answer."""


class ChoiceList(Strict):
    name: Name
    choices: list[Choice] = Field(min_length=1)


class Question(Strict):
    """A question, note, calculation, group or repeat of a form, in XLSForm's vocabulary."""

    name: Name
    type: Literal[QUESTION_TYPES]  # type: ignore[valid-type]
    label: Text | None = None
    hint: Text | None = None
    required: bool = False
    required_message: Text | None = None
    constraint: str | None = None
    constraint_message: Text | None = None
    relevant: str | None = None
    calculation: str | None = None
    default: str | None = None
    appearance: str | None = None
    parameters: str | None = None
    choices: str | None = None
    """A choice list name, or `dimension:CODE` for the values of a catalogue dimension."""
    choice_filter: str | None = None
    file: str | None = None
    """The media CSV of a `select_one_from_file` question (`communes.csv`)."""
    repeat_count: str | None = None
    read_only: bool = False
    pii: bool = False
    """Identifying data (names, phone numbers, documents): never served by aggregate endpoints."""
    sensitive: bool = False
    """Kept out of general analysis (sensitive complaints): only designated focal points see it."""
    questions: list["Question"] = []

    @field_validator("choices")
    @classmethod
    def _choices_ref(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(dimension:)?[A-Za-z_][A-Za-z0-9_.\-]*$", value):
            raise ValueError(f"'{value}' is neither a choice list name nor 'dimension:CODE'")
        return value

    @model_validator(mode="after")
    def _shape(self) -> "Question":
        container = self.type in ("group", "repeat")
        if container and not self.questions:
            raise ValueError(f"a {self.type} needs questions")
        if not container and self.questions:
            raise ValueError(f"a {self.type} question cannot contain questions")
        if self.type in CHOICE_TYPES and self.choices is None:
            raise ValueError(f"a {self.type} question needs choices")
        if self.choices is not None and self.type not in CHOICE_TYPES:
            raise ValueError(f"choices are only for select_one and select_multiple questions, not {self.type}")
        if self.type == "select_one_from_file" and self.file is None:
            raise ValueError("a select_one_from_file question needs a file")
        if self.file is not None and self.type != "select_one_from_file":
            raise ValueError(f"a media file is only for select_one_from_file questions, not {self.type}")
        if self.choice_filter is not None and self.type not in SELECT_TYPES:
            raise ValueError(f"choice_filter is only for select questions, not {self.type}")
        if self.type == "calculate" and self.calculation is None:
            raise ValueError("a calculate question needs a calculation")
        if self.type not in ("calculate",) and self.label is None and not container:
            raise ValueError(f"a {self.type} question needs a label")
        if self.constraint is not None and self.constraint_message is None:
            raise ValueError("a constraint needs a constraint_message in both languages")
        return self


class Audience(StrEnum):
    partner = "partner"
    field_staff = "field_staff"
    trainer = "trainer"
    programme_staff = "programme_staff"
    beneficiary = "beneficiary"


class FormSpec(Strict):
    """A data collection tool: the questions, and what in them feeds dimensions and people counts."""

    id: Name
    title: Text
    audience: Audience
    description: Text | None = None
    instance_name: str | None = None
    activity_date: Name
    """The question whose date places a submission in a period (not the day the phone came online)."""
    person_identifiers: list[Name] = []
    """Questions whose normalised values make the pseudonymous person key."""
    organisation: Name | None = None
    """The question that names the partner organisation a submission belongs to (partner isolation)."""
    dimensions: dict[Code, Name] = {}
    """Dimension code → the question that feeds it. Parent dimensions are derived (commune → province)."""
    choice_lists: list[ChoiceList] = []
    questions: list[Question] = Field(min_length=1)
    revision: Revision | None = None


class Catalogue(Strict):
    """A whole catalogue file, after includes are merged."""

    sera_catalogue: Literal[1]
    programme: Programme
    revision: Revision
    results: list[ResultNode] = Field(min_length=1)
    dimensions: list[Dimension] = []
    choice_lists: list[ChoiceList] = []
    indicators: list[Indicator] = []
    forms: list[FormSpec] = []


def walk_questions(
    questions: list[Question], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Question]]:
    """Yield (path, question) for every question of a tree, groups and repeats included, depth first."""
    for question in questions:
        path = (*prefix, question.name)
        yield path, question
        yield from walk_questions(question.questions, path)
