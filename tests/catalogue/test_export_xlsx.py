"""`write_logframe`: the XLSX logframe, read back with openpyxl."""

import datetime as dt
import types
import typing
from enum import StrEnum
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from catalogue import export_xlsx
from catalogue.export_xlsx import write_logframe
from catalogue.model import (
    Aggregation,
    Catalogue,
    Direction,
    Frequency,
    MeasureType,
    Reference,
    ReferenceSet,
    ResultLevel,
    RevisionReason,
    Risk,
    Term,
    TimeAggregation,
)
from catalogue.reference import reference_values
from catalogue.validation import read_catalogue

MINIMAL = Path(__file__).parent / "cases" / "minimal.yaml"
GENERATED = dt.datetime(2026, 4, 1, 9, 30)
QUARTERS = ["2026Q1", "2026Q2", "2026Q3", "2026Q4", "2027Q1", "2027Q2"]


@pytest.fixture(scope="module")
def minimal() -> Catalogue:
    return read_catalogue(MINIMAL)


def _export(catalogue: Catalogue, directory: Path) -> Workbook:
    out = directory / "cadre_logique.xlsx"
    write_logframe(catalogue, out, generated=GENERATED)
    return openpyxl.load_workbook(out)


@pytest.fixture(scope="module")
def workbook(minimal: Catalogue, tmp_path_factory: pytest.TempPathFactory) -> Workbook:
    return _export(minimal, tmp_path_factory.mktemp("xlsx"))


def _header(ws: Worksheet) -> list[Any]:
    return [cell.value for cell in ws[1]]


def _column(ws: Worksheet, header: str) -> int:
    return _header(ws).index(header) + 1


def _values(ws: Worksheet, header: str) -> list[Any]:
    col = _column(ws, header)
    return [ws.cell(row=row, column=col).value for row in range(2, ws.max_row + 1)]


def _row(ws: Worksheet, **match: str) -> int:
    """The only data row whose cells under the given headers hold the given values."""
    rows = [
        row
        for row in range(2, ws.max_row + 1)
        if all(ws.cell(row=row, column=_column(ws, header)).value == value for header, value in match.items())
    ]
    assert len(rows) == 1, f"{match}: rows {rows}"
    return rows[0]


def _cell(ws: Worksheet, header: str, **match: str) -> Any:
    return ws.cell(row=_row(ws, **match), column=_column(ws, header))


def _with(catalogue: Catalogue, **changes: Any) -> Catalogue:
    data = catalogue.model_dump(mode="python")
    data.update(changes)
    return Catalogue.model_validate(data)


def test_sheets_in_order(workbook: Workbook) -> None:
    assert workbook.sheetnames == ["Cadre logique", "Indicateurs", "Cibles", "Dimensions", "Révision"]


def test_logframe_header_is_frozen(workbook: Workbook) -> None:
    ws = workbook["Cadre logique"]
    assert _header(ws) == [
        "Niveau",
        "Code",
        "Intitulé",
        "العنوان",
        "Indicateurs",
        "Valeur de référence",
        "Cible fin de programme",
        "Sources de vérification",
        "Hypothèses",
        "Risques",
    ]
    assert ws.freeze_panes is not None
    assert ws.freeze_panes.endswith("2")
    assert ws.column_dimensions["C"].width >= 30


def test_logframe_has_one_row_per_result_with_its_level(workbook: Workbook) -> None:
    ws = workbook["Cadre logique"]
    assert _values(ws, "Code") == ["OG", "R1", "R1.1"]
    assert _values(ws, "Niveau") == ["Impact", "Effet", "Produit"]
    assert _values(ws, "العنوان") == ["الهدف العام", "النتيجة 1", "المخرج 1.1"]


def test_logframe_follows_the_results_chain_depth_first(minimal: Catalogue, tmp_path: Path) -> None:
    def node(code: str, level: str, parent: str) -> dict[str, Any]:
        return {"code": code, "level": level, "parent": parent, "title": {"fr": f"Titre {code}", "ar": f"عنوان {code}"}}

    # children listed before their parents: the order of the file must not matter
    results = [
        node("R2.1", "output", "R2"),
        node("A1.1.1", "activity", "R1.1"),
        *(r.model_dump(mode="python") for r in minimal.results),
        node("R2", "outcome", "OG"),
    ]
    # IND2 moves to R2: it now comes after IND1 (R1.1, under R1), though it is first in neither file order
    indicators = [i.model_dump(mode="python") for i in minimal.indicators]
    indicators[1]["result"] = "R2"
    workbook = _export(_with(minimal, results=results, indicators=indicators), tmp_path)
    ws = workbook["Cadre logique"]
    assert _values(ws, "Code") == ["OG", "R1", "R1.1", "A1.1.1", "R2", "R2.1"]
    assert _values(ws, "Niveau") == ["Impact", "Effet", "Produit", "Activité", "Effet", "Produit"]
    assert _values(workbook["Indicateurs"], "Code") == ["IND1", "IND2"]
    assert _values(workbook["Cibles"], "Code") == ["IND1", "IND1", "IND2"]
    activity = _cell(ws, "Code", Code="A1.1.1")
    output = _cell(ws, "Code", Code="R1.1")
    assert activity.alignment.indent > output.alignment.indent


def test_logframe_cells_of_a_result(workbook: Workbook) -> None:
    ws = workbook["Cadre logique"]
    assert _cell(ws, "Indicateurs", Code="R1").value == "IND2 – Part des femmes"
    assert _cell(ws, "Valeur de référence", Code="R1").value == "IND2 : 40 % (40/100, 01/03/2026)"
    assert _cell(ws, "Cible fin de programme", Code="R1.1").value == "IND1 : 100 personnes (dont Femme : 50)"
    assert _cell(ws, "Sources de vérification", Code="R1.1").value == "IND1 : Feuilles de présence"
    assert _cell(ws, "Hypothèses", Code="R1").value == "• Les partenaires restent engagés"
    risks = _cell(ws, "Risques", Code="R1").value
    assert "Retard des décaissements (probabilité : moyenne ; impact : élevé)" in risks
    assert "Atténuation : Suivi mensuel" in risks
    assert _cell(ws, "Indicateurs", Code="OG").value is None
    assert _cell(ws, "Risques", Code="R1").alignment.wrap_text


def test_arabic_title_is_right_to_left_and_french_is_not(workbook: Workbook) -> None:
    ws = workbook["Cadre logique"]
    arabic = _cell(ws, "العنوان", Code="R1")
    assert (arabic.alignment.horizontal, arabic.alignment.readingOrder) == ("right", 2)
    french = _cell(ws, "Intitulé", Code="R1")
    assert french.alignment.horizontal != "right"
    assert french.alignment.readingOrder != 2


def test_levels_are_shaded_differently(workbook: Workbook) -> None:
    ws = workbook["Cadre logique"]
    colours = [_cell(ws, "Code", Code=code).fill.fgColor.rgb for code in ("OG", "R1", "R1.1")]
    assert len(set(colours)) == 3


def test_indicator_sheet(workbook: Workbook) -> None:
    ws = workbook["Indicateurs"]
    header = _header(ws)
    assert header[:6] == ["Code", "Résultat", "Nom", "الاسم", "Définition", "التعريف"]
    for expected in ("Agrégation temporelle", "Désagrégations", "Références externes", "Mesure – formulaire"):
        assert expected in header
    assert _values(ws, "Code") == ["IND2", "IND1"]
    assert _cell(ws, "Résultat", Code="IND1").value == "R1.1 – Produit 1.1"
    assert _cell(ws, "Type de mesure", Code="IND2").value == "Pourcentage"
    assert _cell(ws, "Agrégation temporelle", Code="IND1").value.startswith("Personnes uniques sur le programme")
    assert _cell(ws, "Agrégation temporelle", Code="IND2").value.startswith("Dernière valeur")
    assert _cell(ws, "Désagrégations", Code="IND1").value == "Sexe, Région"
    assert _cell(ws, "Références externes", Code="IND1").value == "ODD 10.7.2"
    assert _cell(ws, "Mesure – formulaire", Code="IND1").value == "attendance – Présence"
    assert _cell(ws, "Mesure – filtre", Code="IND1").value == "consent = 'yes'"
    ratio = _cell(ws, "Mesure – agrégation", Code="IND2").value
    assert "Numérateur : Nombre de soumissions [si sex = 'female']" in ratio
    assert _cell(ws, "الاسم", Code="IND1").alignment.readingOrder == 2


def test_baseline_is_a_number_and_a_date(workbook: Workbook) -> None:
    ws = workbook["Indicateurs"]
    value = _cell(ws, "Référence – valeur", Code="IND2")
    assert value.data_type == "n"
    assert value.value == 40
    assert _cell(ws, "Référence – dénominateur", Code="IND2").value == 100
    date = _cell(ws, "Référence – date", Code="IND2")
    assert date.is_date
    assert date.value.date() == dt.date(2026, 3, 1)
    assert "DD" in date.number_format.upper()


def test_targets_land_in_their_period_column(workbook: Workbook) -> None:
    ws = workbook["Cibles"]
    header = _header(ws)
    start = header.index("2026Q1")
    assert header[start : start + len(QUARTERS) + 1] == [*QUARTERS, "Fin de programme"]
    assert _values(ws, "Ventilation") == ["Total", "Total", "dont Femme"]
    total = {"Code": "IND1", "Ventilation": "Total"}
    q3 = _cell(ws, "2026Q3", **total)
    assert (q3.value, q3.data_type) == (20, "n")
    assert _cell(ws, "2026Q4", **total).value == 30
    lop = _cell(ws, "Fin de programme", **total)
    assert (lop.value, lop.data_type) == (100, "n")
    for quarter in ("2026Q1", "2026Q2", "2027Q1", "2027Q2"):
        assert _cell(ws, quarter, **total).value is None
    women = {"Code": "IND1", "Ventilation": "dont Femme"}
    assert _cell(ws, "Fin de programme", **women).value == 50
    assert _cell(ws, "2026Q3", **women).value is None
    assert _cell(ws, "Fin de programme", Code="IND2").value == 50
    assert _cell(ws, "Valeur de référence", Code="IND2").value == 40


def test_a_target_outside_the_programme_is_refused(minimal: Catalogue, tmp_path: Path) -> None:
    indicators = [i.model_dump(mode="python") for i in minimal.indicators]
    indicators[0]["targets"].append({"period": "2030Q1", "value": 5})
    with pytest.raises(ValueError, match="2030Q1"):
        write_logframe(_with(minimal, indicators=indicators), tmp_path / "out.xlsx")


def test_dimensions_list_every_value_reference_ones_included(workbook: Workbook) -> None:
    ws = workbook["Dimensions"]
    assert _header(ws)[:3] == ["Dimension", "Nom", "الاسم"]
    assert list(zip(_values(ws, "Dimension"), _values(ws, "Code valeur"), strict=True)) == [
        ("sex", "female"),
        ("sex", "male"),
        ("sex", "unknown"),
        ("region", "02"),
        ("region", "09"),
        ("region", "unknown"),
    ]
    oriental = _cell(ws, "القيمة", Dimension="region", **{"Code valeur": "02"})
    assert oriental.value == "الشرق"
    assert oriental.alignment.readingOrder == 2
    assert _cell(ws, "Référentiel", **{"Code valeur": "02"}).value.startswith("Régions du Maroc")


def test_reference_dimensions_list_all_their_values(minimal: Catalogue, tmp_path: Path) -> None:
    unknown = [{"code": "unknown", "label": {"fr": "Inconnue", "ar": "غير معروفة"}}]
    dimensions = [
        *(d.model_dump(mode="python") for d in minimal.dimensions),
        {"code": "province", "name": {"fr": "Province", "ar": "الإقليم"}, "parent": "region",
         "reference": "morocco-admin/provinces", "values": unknown},
        {"code": "commune", "name": {"fr": "Commune", "ar": "الجماعة"}, "parent": "province",
         "reference": "morocco-admin/communes", "values": unknown},
    ]  # fmt: skip
    ws = _export(_with(minimal, dimensions=dimensions), tmp_path)["Dimensions"]
    communes = [row for row in range(2, ws.max_row + 1) if ws.cell(row=row, column=1).value == "commune"]
    assert len(communes) == len(reference_values(ReferenceSet.communes)) + 1
    assert len(communes) > 200
    ahfir = {"Dimension": "commune", "Code valeur": "02.113.01.01"}
    assert _cell(ws, "Valeur", **ahfir).value == "Ahfir"
    assert _cell(ws, "Valeur parente", **ahfir).value == "02.113 – Berkane"
    assert _cell(ws, "Attributs", **ahfir).value == "kind : municipality"


def test_revision_sheet(workbook: Workbook) -> None:
    ws = workbook["Révision"]
    facts = {ws.cell(row=row, column=1).value: ws.cell(row=row, column=2) for row in range(2, ws.max_row + 1)}
    assert facts["Intitulé du programme"].value == "Programme de démonstration"
    arabic = facts["عنوان البرنامج"]
    assert arabic.value == "برنامج تجريبي"
    assert (arabic.alignment.horizontal, arabic.alignment.readingOrder) == ("right", 2)
    assert facts["Début"].is_date
    assert facts["Début"].value.date() == dt.date(2026, 3, 1)
    assert facts["Bailleurs"].value == "AFD"
    assert facts["Date de la révision du catalogue"].value.date() == dt.date(2026, 3, 16)
    assert facts["Motif de la révision"].value == "Version initiale"
    assert facts["Justification"].value == "Première version du cadre de résultats."
    assert facts["Nombre d'indicateurs"].value == 2
    assert facts["Document généré le"].value == GENERATED


def test_formula_like_text_stays_text(minimal: Catalogue, tmp_path: Path) -> None:
    results = [r.model_dump(mode="python") for r in minimal.results]
    results[1]["assumptions"] = [{"fr": "=1+1", "ar": "=1+1"}]
    ws = _export(_with(minimal, results=results), tmp_path)["Cadre logique"]
    cell = _cell(ws, "Hypothèses", Code="R1")
    assert cell.value == "• =1+1"
    results[1]["title"] = {"fr": "=SUM(A1:A2)", "ar": "عنوان"}
    ws = _export(_with(minimal, results=results), tmp_path)["Cadre logique"]
    cell = _cell(ws, "Intitulé", Code="R1")
    assert (cell.value, cell.data_type) == ("=SUM(A1:A2)", "s")


def _literal_values(annotation: Any) -> set[str]:
    """The strings of a `Literal[...]`, or of `Literal[...] | None`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_literal_values(arg) for arg in typing.get_args(annotation) if arg is not type(None)))
    assert typing.get_origin(annotation) is typing.Literal
    return set(typing.get_args(annotation))


ENUM_LABELS: list[tuple[type[StrEnum], dict[str, str]]] = [
    (ResultLevel, export_xlsx.LEVEL_LABELS),
    (RevisionReason, export_xlsx.REVISION_REASON_LABELS),
    (MeasureType, export_xlsx.MEASURE_TYPE_LABELS),
    (Direction, export_xlsx.DIRECTION_LABELS),
    (Frequency, export_xlsx.FREQUENCY_LABELS),
    (TimeAggregation, export_xlsx.TIME_AGGREGATION_LABELS),
    (Aggregation, export_xlsx.AGGREGATION_LABELS),
    (ReferenceSet, export_xlsx.REFERENCE_SET_LABELS),
]


@pytest.mark.parametrize(("enum", "labels"), ENUM_LABELS, ids=[enum.__name__ for enum, _ in ENUM_LABELS])
def test_every_enum_member_has_a_french_label(enum: type[StrEnum], labels: dict[str, str]) -> None:
    assert {str(key) for key in labels} == {member.value for member in enum}
    assert all(label.strip() for label in labels.values())


@pytest.mark.parametrize(
    ("annotation", "labels"),
    [
        (Risk.model_fields["likelihood"].annotation, export_xlsx.LIKELIHOOD_LABELS),
        (Risk.model_fields["impact"].annotation, export_xlsx.IMPACT_LABELS),
        (Reference.model_fields["vocabulary"].annotation, export_xlsx.VOCABULARY_LABELS),
    ],
    ids=["likelihood", "impact", "vocabulary"],
)
def test_every_literal_value_has_a_french_label(annotation: Any, labels: dict[str, str]) -> None:
    assert set(labels) == _literal_values(annotation)


def test_every_term_aggregation_has_a_label() -> None:
    assert _literal_values(Term.model_fields["aggregation"].annotation) <= set(export_xlsx.AGGREGATION_LABELS)


def test_a_missing_label_raises(minimal: Catalogue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(export_xlsx.LEVEL_LABELS, ResultLevel.output)
    with pytest.raises(KeyError):
        write_logframe(minimal, tmp_path / "out.xlsx")
