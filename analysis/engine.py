"""The catalogue compiled for computation: one plan per form and per indicator, the programme's periods."""

from dataclasses import dataclass

from analysis.dimensions import DimensionIndex
from analysis.facts import FormPlan
from analysis.measures import IndicatorPlan
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue, TimeAggregation
from catalogue.periods import quarters_between
from catalogue.store import canonical_hash

ENGINE_VERSION = 1
"""Raised when the way facts or values are computed changes, so the next run recomputes everything."""


@dataclass(frozen=True)
class Engine:
    """Everything `compute` needs from the catalogue, built once per run."""

    catalogue: Catalogue
    quarters: tuple[str, ...]
    forms: dict[str, FormPlan]
    indicators: dict[str, IndicatorPlan]
    dimension_parents: dict[str, dict[str, str | None]]

    @classmethod
    def of(cls, catalogue: Catalogue) -> "Engine":
        index = DimensionIndex.of(catalogue)
        forms = {form.id: FormPlan.of(catalogue, form, index) for form in catalogue.forms}
        indicators = {
            ind.code: IndicatorPlan.of(ind, forms[ind.measure.form])
            for ind in catalogue.indicators
            if ind.measure.form in forms
        }
        quarters = tuple(quarters_between(catalogue.programme.first_period, catalogue.programme.last_period))
        return cls(catalogue, quarters, forms, indicators, index.parents)

    @property
    def periods(self) -> frozenset[str]:
        """The quarters of the programme: rows dated outside them feed no value (data quality reports them)."""
        return frozenset(self.quarters)

    def on_form(self, form_id: str) -> list[IndicatorPlan]:
        return [plan for plan in self.indicators.values() if plan.indicator.measure.form == form_id]

    def fingerprint(self, secret_fingerprint: str) -> str:
        """Changes with what facts and values are computed from: the programme's quarters, the dimensions'
        values, the forms, the indicators' measures and disaggregations, the engine and the person-key secret.
        Labels, targets and revisions are left out: changing them changes no value."""
        catalogue = self.catalogue
        indicators = [
            i.model_dump(
                mode="json", include={"code", "measure_type", "scale", "disaggregations", "time_aggregation", "measure"}
            )
            for i in catalogue.indicators
        ]
        return canonical_hash(
            {
                "engine": ENGINE_VERSION,
                "quarters": self.quarters,
                "dimensions": {code: sorted(values.items()) for code, values in self.dimension_parents.items()},
                "forms": [
                    f.model_dump(mode="json", exclude={"revision", "title", "description"}) for f in catalogue.forms
                ],
                "indicators": indicators,
                "secret": secret_fingerprint,
            }
        )

    def affected(self, code: str, touched: set[str]) -> set[str]:
        """The periods to recompute when rows of these quarters changed.

        A quarter and LOP for `sum` and `latest`; for `cumulative` and `unique_people` (and gains to date) also
        every later quarter, since each one depends on all the rows before it.
        """
        quarters = sorted(touched & self.periods)
        if not quarters:
            return set()
        aggregation = self.indicators[code].indicator.time_aggregation
        if aggregation in (TimeAggregation.sum, TimeAggregation.latest):
            return {*quarters, LIFE_OF_PROGRAMME}
        return {q for q in self.quarters if q >= quarters[0]} | {LIFE_OF_PROGRAMME}

    def all_periods(self) -> set[str]:
        return {*self.quarters, LIFE_OF_PROGRAMME}
