"""The PRIM 2 world the demo data describes: its clock, places, partners, grants and institutions.

Everything is read from the catalogue (dimension values and their attributes, choice lists), so a generated code
is always one the forms offer. The clock is fixed: activities fall between April 2026 and September 2028 and the
servers stop receiving at the end of October 2028, whatever day the demo is generated on, so the same seed
always gives the same data.
"""

import bisect
import datetime as dt
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from catalogue.model import UNKNOWN, Catalogue, DimensionValue, FormSpec, Question
from xlsforms.lookup import Lookup, questions_by_name

FIRST_DAY = dt.date(2026, 4, 1)
LAST_DAY = dt.date(2028, 9, 30)
SERVER_CLOSES = dt.datetime(2028, 10, 31, 17, 0, tzinfo=dt.UTC)
"""The demo's "now": no submission reaches the server later, so late and offline ones stay inside the programme."""
MOROCCO = dt.timezone(dt.timedelta(hours=1))
"""Phones' offset (Morocco keeps UTC+1 outside Ramadan)."""
REGION_PREFIX = {"02": "ORI", "09": "SM"}
"""Region code → the prefix of training session codes (`ORI-2027-03`)."""


class DemoUnsupported(Exception):
    """The catalogue lacks what a demo scenario needs (a form, a question, dimension values)."""


# --- small deterministic tools ------------------------------------------------------------------------------


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Integer counts that sum to `total`, proportional to `weights` (largest remainder, ties to the first)."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    exact = [total * w / weight_sum for w in weights]
    counts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def spread(total: int, weights: Sequence[float]) -> list[int]:
    """Integer counts summing to `total`, spread along `weights` in order (systematic sampling).

    Proportional like `allocate` when the total is large, but a small total is spread over the whole sequence
    (cells in time order: a few sessions still span the programme) instead of piling on the heaviest cells.
    """
    weight_sum = sum(weights)
    counts = [0] * len(weights)
    if total <= 0 or weight_sum <= 0:
        return counts
    step = weight_sum / total
    cell, upper = 0, weights[0]
    for point in range(total):
        position = (point + 0.5) * step
        while position > upper and cell < len(weights) - 1:
            cell += 1
            upper += weights[cell]
        counts[cell] += 1
    return counts


class Picker:
    """A weighted choice among codes, with cumulative weights computed once (it runs millions of times)."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.codes = [code for code, weight in weights.items() if weight > 0]
        if not self.codes:
            raise DemoUnsupported("a weighted choice with no positive weight")
        self.cumulative: list[float] = []
        running = 0.0
        for code in self.codes:
            running += weights[code]
            self.cumulative.append(running)

    def __call__(self, rng: random.Random) -> str:
        return self.codes[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def new_uuid(rng: random.Random) -> str:
    """A version 4 UUID drawn from the generator's stream (reproducible, unlike uuid.uuid4())."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def months(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """The first day of each month from `first`'s month to `last`'s."""
    current = first.replace(day=1)
    while current <= last:
        yield current
        current = (current + dt.timedelta(days=32)).replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_end(quarter: str) -> dt.date:
    year, number = int(quarter[:4]), int(quarter[5])
    return month_end(dt.date(year, number * 3, 1))


def next_quarter(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[5])
    return f"{year + number // 4}Q{number % 4 + 1}"


def at(day: dt.date, minutes: float) -> dt.datetime:
    """A phone's clock on `day`, `minutes` after midnight, Morocco time."""
    return dt.datetime.combine(day, dt.time(), MOROCCO) + dt.timedelta(minutes=minutes)


def weekday_days(first: dt.date, last: dt.date) -> tuple[list[dt.date], list[float]]:
    """The days of a span with how busy each usually is: weekdays, a little on Saturday, almost never Sunday."""
    days, weights = [], []
    day = first
    while day <= last:
        days.append(day)
        weights.append((1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.03)[day.weekday()])
        day += dt.timedelta(days=1)
    return days, weights


# --- the places and organisations of the catalogue ----------------------------------------------------------


@dataclass(frozen=True)
class Place:
    region: str
    province: str
    commune: str


@dataclass(frozen=True)
class Grant:
    code: str
    partner: str
    region: str
    start: dt.date
    end: dt.date
    amount: int
    kind: str
    """The partner's organisation kind (`local_ngo`, `diaspora_association`)."""
    centre: Place
    """Where its beneficiaries mostly live: the partner's city if it is in the project's region, else the capital."""


@dataclass(frozen=True)
class Institution:
    code: str
    type: str
    label: str
    place: Place


@dataclass
class World:
    """Indexes over one catalogue that every scenario shares."""

    catalogue: Catalogue
    lookup: Lookup = field(init=False)
    forms: dict[str, FormSpec] = field(init=False)
    communes: dict[str, Place] = field(init=False)
    commune_names: dict[str, str] = field(init=False)
    by_region: dict[str, list[Place]] = field(init=False)
    by_province: dict[str, list[Place]] = field(init=False)
    partner_region: dict[str, str] = field(init=False)
    grants: list[Grant] = field(init=False)
    institutions: list[Institution] = field(init=False)

    def __post_init__(self) -> None:
        self.lookup = Lookup(self.catalogue)
        self.forms = {form.id: form for form in self.catalogue.forms}
        provinces = {row.code: row.ancestors.get("region", "") for row in self.lookup.value_rows("province")}
        self.communes, self.commune_names = {}, {}
        self.by_region, self.by_province = {}, {}
        for row in self.lookup.value_rows("commune"):
            province = row.value.parent or ""
            if row.code == UNKNOWN or province not in provinces:
                continue
            place = Place(provinces[province], province, row.code)
            self.communes[row.code] = place
            self.commune_names[row.code] = row.value.label.fr
            self.by_region.setdefault(place.region, []).append(place)
            self.by_province.setdefault(province, []).append(place)
        if len(self.by_region) < 1:
            raise DemoUnsupported("the catalogue has no communes (dimension `commune` with a reference set)")
        self.partner_region = {}
        city: dict[str, str] = {}
        for value in self.lookup.values("partner"):
            if value.code != UNKNOWN:
                self.partner_region[value.code] = str(value.attributes.get("region") or "")
                city[value.code] = str(value.attributes.get("city") or "")
        self.grants = [self._grant(value, city) for value in self.lookup.values("grant") if value.code != UNKNOWN]
        self.institutions = [
            self._institution(value) for value in self.lookup.values("institution") if value.code != UNKNOWN
        ]

    @property
    def regions(self) -> list[str]:
        return sorted(self.by_region)

    def capital(self, region: str) -> Place:
        """A region's main town: its first municipality in the reference list."""
        return self.by_region[region][0]

    def place_named(self, name: str, region: str) -> Place | None:
        for place in self.by_region.get(region, []):
            if self.commune_names[place.commune] == name:
                return place
        return None

    def _grant(self, value: DimensionValue, city: dict[str, str]) -> Grant:
        attrs = value.attributes
        partner = value.parent or UNKNOWN
        region = str(attrs.get("region") or self.partner_region.get(partner) or self.regions[0])
        if region not in self.by_region:
            region = self.regions[0]
        start = _date(attrs.get("start"), dt.date(2026, 10, 1))
        end = _date(attrs.get("end"), dt.date(2028, 5, 31))
        centre = self.place_named(city.get(partner, ""), region) or self.capital(region)
        kind = "diaspora_association" if partner.startswith("DIA") else "local_ngo"
        partner_value = next((v for v in self.lookup.values("partner") if v.code == partner), None)
        if partner_value is not None and partner_value.attributes.get("kind"):
            kind = str(partner_value.attributes["kind"])
        amount = int(float(str(attrs.get("amount_eur") or 60000)))
        return Grant(value.code, partner, region, start, min(end, LAST_DAY), amount, kind, centre)

    def _institution(self, value: DimensionValue) -> Institution:
        commune = str(value.attributes.get("commune") or "")
        region = str(value.attributes.get("region") or "")
        place = self.communes.get(commune) or self.capital(region if region in self.by_region else self.regions[0])
        return Institution(value.code, value.parent or UNKNOWN, value.label.fr, place)

    # --- questions and choices ----------------------------------------------------------------------------

    def form(self, form_id: str) -> FormSpec:
        if form_id not in self.forms:
            raise DemoUnsupported(f"the catalogue has no form '{form_id}'")
        return self.forms[form_id]

    def question(self, form_id: str, name: str) -> Question:
        found = questions_by_name(self.form(form_id)).get(name)
        if found is None:
            raise DemoUnsupported(f"form '{form_id}' has no question '{name}' that the demo scenario fills")
        return found[1]

    def codes(self, form_id: str, name: str) -> list[str]:
        """The codes a select question of a form accepts."""
        codes = self.lookup.codes(self.form(form_id), self.question(form_id, name))
        if not codes:
            raise DemoUnsupported(f"form '{form_id}': question '{name}' offers no choices")
        return codes

    def picker(self, form_id: str, name: str, weights: Mapping[str, float] | None = None) -> Picker:
        """A weighted choice among the codes a question accepts; weights for codes it lacks are dropped.

        Codes without a weight get none, unless no weight matches at all: then every code but `unknown` is equal.
        """
        codes = self.codes(form_id, name)
        kept = {code: weight for code, weight in (weights or {}).items() if code in codes}
        if not any(weight > 0 for weight in kept.values()):
            kept = {code: 1.0 for code in codes if code != UNKNOWN} or {codes[0]: 1.0}
        return Picker(kept)

    def label(self, form_id: str, name: str, code: str) -> str:
        """The French label of a choice, for texts that mention it."""
        question = self.question(form_id, name)
        dimension = self.lookup.source_dimension(question)
        if dimension is not None:
            return next((v.label.fr for v in self.lookup.values(dimension) if v.code == code), code)
        choice_list = self.lookup.choice_list(self.form(form_id), question.choices or "")
        if choice_list is None:
            return code
        return next((c.label.fr for c in choice_list.choices if c.code == code), code)

    def scores(self, form_id: str, name: str) -> dict[str, float]:
        """Choice code → points, for scored test questions."""
        question = self.question(form_id, name)
        choice_list = self.lookup.choice_list(self.form(form_id), question.choices or "")
        if choice_list is None:
            raise DemoUnsupported(f"form '{form_id}': question '{name}' has no choice list")
        return {choice.code: choice.score or 0.0 for choice in choice_list.choices}


def _date(value: object, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)) if value else default
    except ValueError:
        return default
