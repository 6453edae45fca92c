"""Reference data shipped with the product (Morocco's administrative divisions of the two regions).

Copied into the repo from the programme's shared data so the product never reads outside itself at run time.
A dimension that names a reference set gets its values from here, followed by its inline values.
"""

import csv
from functools import cache
from pathlib import Path

from catalogue.model import Dimension, DimensionValue, ReferenceSet, Text

REFERENCE_DIR = Path(__file__).parent / "reference" / "morocco_admin"

_FILES = {
    ReferenceSet.regions: ("regions.csv", None),
    ReferenceSet.provinces: ("provinces.csv", "region_code"),
    ReferenceSet.communes: ("communes.csv", "province_code"),
}


@cache
def reference_values(reference: ReferenceSet) -> tuple[DimensionValue, ...]:
    """The values of a reference set, in file order, with their parent code and kind."""
    filename, parent_column = _FILES[reference]
    with (REFERENCE_DIR / filename).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        DimensionValue(
            code=row["code"],
            label=Text(fr=row["name_fr"], ar=row["name_ar"]),
            parent=row[parent_column] if parent_column else None,
            attributes={"kind": row["kind"]} if "kind" in row else {},
        )
        for row in rows
    )


def dimension_values(dimension: Dimension) -> list[DimensionValue]:
    """All the values of a dimension: its reference set's, then those written in the catalogue."""
    values = list(reference_values(dimension.reference)) if dimension.reference else []
    return values + list(dimension.values)
