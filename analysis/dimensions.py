"""Disaggregation values of a submission: the answers a form maps to dimensions, and the parents they imply.

A form asks for a commune; the catalogue's reference data knows its province and region, so the submission
counts in all three. A grant knows its partner, an institution its type. An answer that is missing or is not a
value of its dimension becomes `unknown`, so totals always equal the sum of their disaggregations.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalogue.model import UNKNOWN, Catalogue, FormSpec
from catalogue.reference import dimension_values


@dataclass(frozen=True)
class DimensionIndex:
    """Every dimension's values with their parent value, and which dimensions are children of which."""

    parents: dict[str, dict[str, str | None]]
    """dimension → value code → the parent dimension's value code."""
    children: dict[str, tuple[str, ...]]
    """dimension → the dimensions whose parent it is."""
    parent_dimension: dict[str, str | None]

    @classmethod
    def of(cls, catalogue: Catalogue) -> "DimensionIndex":
        parents = {dim.code: {v.code: v.parent for v in dimension_values(dim)} for dim in catalogue.dimensions}
        children: dict[str, list[str]] = {}
        for dim in catalogue.dimensions:
            if dim.parent:
                children.setdefault(dim.parent, []).append(dim.code)
        return cls(
            parents=parents,
            children={code: tuple(kids) for code, kids in children.items()},
            parent_dimension={dim.code: dim.parent for dim in catalogue.dimensions},
        )

    def fed(self, form: FormSpec) -> tuple[str, ...]:
        """The dimensions a form gives: those it maps and their ancestors, in a stable order."""
        out: list[str] = []
        for code in form.dimensions:
            current: str | None = code
            while current is not None and current not in out and current in self.parents:
                out.append(current)
                current = self.parent_dimension.get(current)
        return tuple(out)

    def code(self, dimension: str, answer: Any) -> str:
        """An answer as a value of the dimension, or `unknown`."""
        if isinstance(answer, list):
            answer = answer[0] if len(answer) == 1 else None
        if answer is None:
            return UNKNOWN
        text = str(answer).strip()
        return text if text in self.parents.get(dimension, {}) else UNKNOWN

    def resolve(self, fed: tuple[str, ...], answers: Mapping[str, Any]) -> dict[str, str]:
        """The value of every fed dimension: its own answer if known, else the parent of a known child's value.

        An answered value wins over a derived one (the form asked for it); derivation fills what is missing,
        so a form that maps only `grant` still counts in its `partner`.
        """
        fed_set = set(fed)
        resolved: dict[str, str] = {}

        def value_of(dimension: str) -> str:
            if dimension in resolved:
                return resolved[dimension]
            value = self.code(dimension, answers.get(dimension))
            if value == UNKNOWN:
                for child in self.children.get(dimension, ()):
                    if child not in fed_set:
                        continue
                    child_value = value_of(child)
                    parent = self.parents[child].get(child_value) if child_value != UNKNOWN else None
                    if parent is not None and parent != UNKNOWN and parent in self.parents[dimension]:
                        value = parent
                        break
            resolved[dimension] = value
            return value

        return {dimension: value_of(dimension) for dimension in fed}
