"""The catalogue compiled for computation: one plan per form and per indicator, the programme's periods."""

from dataclasses import dataclass

from analysis.dimensions import DimensionIndex
from analysis.facts import FormPlan
from analysis.measures import IndicatorPlan
from catalogue.model import LIFE_OF_PROGRAMME, Catalogue
from catalogue.periods import quarters_between
from catalogue.store import canonical_hash

ENGINE_VERSION = 3
"""Raised when the way facts or values are computed changes, so the next run recomputes everything.
2: cells keep their totals (sums in millionths); a `latest` LOP adds up the reporters' last values.
3: person keys ignore tatweel and invisible marks and read every digit as 0-9 (`+212 0 6…` is `06…` too);
cumulative cells run to the current or latest reported quarter."""


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

    def all_periods(self) -> set[str]:
        return {*self.quarters, LIFE_OF_PROGRAMME}
