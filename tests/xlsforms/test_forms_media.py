"""Media CSVs for selects from files: which dimension a file lists, and what Collect reads in it."""

import csv
import io
import re

import pytest

from catalogue.model import Catalogue
from xlsforms.lookup import Lookup
from xlsforms.media import form_media, media_csv


@pytest.mark.parametrize(
    ("filename", "dimension"),
    [
        ("communes.csv", "commune"),
        ("commune.csv", "commune"),
        ("provinces.csv", "province"),
        ("grants.csv", "grant"),
        ("partners.csv", "partner"),
        ("villages.csv", None),
        ("communes.xml", None),
        ("communess.csv", None),
    ],
)
def test_a_media_file_maps_to_the_dimension_it_is_named_after(
    catalogue: Catalogue, filename: str, dimension: str | None
) -> None:
    found = Lookup(catalogue).media_dimension(filename)

    assert (found.code if found else None) == dimension


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def test_communes_csv_lists_every_commune_with_labels_and_ancestors(catalogue: Catalogue) -> None:
    lookup = Lookup(catalogue)
    content = media_csv(lookup, "commune")
    rows = _rows(content)

    assert content.splitlines()[0] == b"name,label,label_fr,label_ar,province,region"
    assert len(rows) == len(lookup.values("commune"))
    assert rows[0] == {
        "name": "02.113.01.01",
        "label": "Ahfir / أحفير",
        "label_fr": "Ahfir",
        "label_ar": "أحفير",
        "province": "02.113",
        "region": "02",
    }
    assert rows[-1] == {
        "name": "unknown",
        "label": "Inconnu / غير معروف",
        "label_fr": "Inconnu",
        "label_ar": "غير معروف",
        "province": "",
        "region": "",
    }
    assert b"\r" not in content


def test_every_column_is_an_xml_name_collect_can_load(catalogue: Catalogue) -> None:
    lookup = Lookup(catalogue)
    for code in lookup.dimensions:
        header = media_csv(lookup, code).splitlines()[0].decode()
        for column in header.split(","):
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", column), column


def test_grants_csv_names_the_partner_for_the_cascade(catalogue: Catalogue) -> None:
    rows = _rows(media_csv(Lookup(catalogue), "grant"))

    assert [(row["name"], row["partner"]) for row in rows] == [
        ("G-001", "asso-oujda"),
        ("G-002", "asso-agadir"),
        ("unknown", ""),
    ]


def test_a_form_gets_the_files_it_uses_and_no_others(catalogue: Catalogue) -> None:
    lookup = Lookup(catalogue)
    training, grant = catalogue.forms

    assert list(form_media(lookup, training)) == ["communes.csv", "provinces.csv"]
    assert list(form_media(lookup, grant)) == ["grants.csv", "partners.csv"]


def test_a_file_naming_no_dimension_is_refused(data: dict, make) -> None:
    data["forms"][1]["questions"][1]["file"] = "villages.csv"
    catalogue = make(data)

    with pytest.raises(
        KeyError, match=re.escape("form 'grant_monitoring': media file 'villages.csv' maps to no dimension")
    ):
        form_media(Lookup(catalogue), catalogue.forms[1])
