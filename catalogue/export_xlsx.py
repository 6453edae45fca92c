"""Writing a catalogue as an XLSX logframe, the matrix an AFD or EU programme officer expects, in French.

Five sheets: the logframe matrix (`Cadre logique`), one reference sheet line per indicator (`Indicateurs`, the
PIRS), the targets by quarter (`Cibles`), the dimensions and their values (`Dimensions`) and the edition
(`Révision`). Results and indicators follow the results chain, depth first: the impact, then each outcome with its
outputs and their activities; indicators come with their result, in catalogue order. Arabic columns are
right-to-left. Every enum is shown through a French label; a label missing for a value raises `KeyError` rather
than printing the code. Numbers are numeric cells and dates date cells, except in the logframe matrix, where the
values of several indicators share a cell as text lines (the numeric values are in `Indicateurs` and `Cibles`).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from catalogue.model import (
    LIFE_OF_PROGRAMME,
    RESULT_LEVEL_ORDER,
    Aggregation,
    Catalogue,
    Dimension,
    Direction,
    Frequency,
    Indicator,
    Measure,
    MeasureType,
    ReferenceSet,
    ResultLevel,
    ResultNode,
    Revision,
    RevisionReason,
    Risk,
    Target,
    Term,
    TimeAggregation,
)
from catalogue.periods import quarters_between
from catalogue.reference import dimension_values
from catalogue.xlsx_sheets import (
    BOLD,
    ITALIC,
    LEVEL_FILLS,
    Column,
    RowStyle,
    date_text,
    header_cells,
    number_text,
    print_setup,
    put,
    quantity,
    table_sheet,
    write_rows,
)

# --- French labels: one dict per enum, complete (tests check every member) ------------------------------------

LEVEL_LABELS: dict[str, str] = {
    ResultLevel.impact: "Impact",
    ResultLevel.outcome: "Effet",
    ResultLevel.output: "Produit",
    ResultLevel.activity: "Activité",
}
REVISION_REASON_LABELS: dict[str, str] = {
    RevisionReason.initial: "Version initiale",
    RevisionReason.adaptive_management: "Gestion adaptative",
    RevisionReason.budget_realignment: "Réalignement budgétaire",
    RevisionReason.context_change: "Évolution du contexte",
    RevisionReason.costed_extension: "Prolongation avec avenant budgétaire",
    RevisionReason.donor_requirement: "Exigence du bailleur",
    RevisionReason.implementation_delays: "Retards de mise en œuvre",
    RevisionReason.error_correction: "Correction d'erreur",
    RevisionReason.other: "Autre motif",
}
MEASURE_TYPE_LABELS: dict[str, str] = {
    MeasureType.number: "Nombre",
    MeasureType.percentage: "Pourcentage",
    MeasureType.yes_no: "Oui / non",
    MeasureType.ordinal: "Échelle ordinale",
}
DIRECTION_LABELS: dict[str, str] = {
    Direction.increase: "À la hausse",
    Direction.decrease: "À la baisse",
    Direction.maintain: "Maintien",
}
FREQUENCY_LABELS: dict[str, str] = {
    Frequency.quarterly: "Trimestrielle",
    Frequency.semiannual: "Semestrielle",
    Frequency.annual: "Annuelle",
    Frequency.midterm_endline: "Mi-parcours et fin de programme",
    Frequency.endline: "Fin de programme",
}
TIME_AGGREGATION_LABELS: dict[str, str] = {
    TimeAggregation.sum: "Somme des périodes (flux : la valeur fin de programme est la somme des trimestres)",
    TimeAggregation.cumulative: "Cumul à date (chaque période donne le total depuis le début du programme)",
    TimeAggregation.latest: "Dernière valeur (stock : la valeur de la période la plus récente fait foi)",
    TimeAggregation.unique_people: (
        "Personnes uniques sur le programme (chaque personne comptée une seule fois, "
        "quel que soit le nombre de périodes ou d'activités)"
    ),
}
AGGREGATION_LABELS: dict[str, str] = {
    Aggregation.count: "Nombre de soumissions",
    Aggregation.distinct: "Nombre de valeurs distinctes",
    Aggregation.distinct_people: "Nombre de personnes uniques",
    Aggregation.sum: "Somme",
    Aggregation.mean: "Moyenne",
    Aggregation.ratio: "Ratio numérateur / dénominateur",
    Aggregation.gain: "Gain entre pré-test et post-test",
}
REFERENCE_SET_LABELS: dict[str, str] = {
    ReferenceSet.regions: "Régions du Maroc (découpage administratif officiel)",
    ReferenceSet.provinces: "Provinces et préfectures du Maroc (découpage administratif officiel)",
    ReferenceSet.communes: "Communes du Maroc (découpage administratif officiel)",
}
VOCABULARY_LABELS: dict[str, str] = {
    "iati": "IATI",
    "eu_gerf": "GERF UE",
    "sdg": "ODD",
    "afd": "AFD",
    "programme": "Programme",
}
LIKELIHOOD_LABELS: dict[str, str] = {"low": "faible", "medium": "moyenne", "high": "élevée"}
"""Probabilité (feminine)."""
IMPACT_LABELS: dict[str, str] = {"low": "faible", "medium": "moyen", "high": "élevé"}
"""Impact (masculine)."""

SHEET_LOGFRAME = "Cadre logique"
SHEET_INDICATORS = "Indicateurs"
SHEET_TARGETS = "Cibles"
SHEET_DIMENSIONS = "Dimensions"
SHEET_REVISION = "Révision"
LOP_HEADER = "Fin de programme"


def _lines(items: Iterable[str]) -> str | None:
    text = "\n".join(items)
    return text or None


def _revision_text(revision: Revision | None) -> str | None:
    if revision is None:
        return None
    return f"{date_text(revision.date)} – {REVISION_REASON_LABELS[revision.reason]} : {revision.rationale}"


# --- the catalogue, walked -----------------------------------------------------------------------------------


def results_in_chain_order(results: Sequence[ResultNode]) -> list[ResultNode]:
    """The results depth first (impact, outcome, its outputs and their activities, next outcome...).

    Siblings keep their catalogue order. A node whose parent is missing is a root; nodes caught in a parent loop
    (which validation refuses) come last, so that nothing is ever left out.
    """
    codes = {node.code for node in results}
    children: dict[str, list[ResultNode]] = defaultdict(list)
    roots = []
    for node in results:
        if node.parent is None or node.parent not in codes:
            roots.append(node)
        else:
            children[node.parent].append(node)
    ordered: list[ResultNode] = []
    seen: set[str] = set()

    def visit(node: ResultNode) -> None:
        if node.code in seen:
            return
        seen.add(node.code)
        ordered.append(node)
        for child in children[node.code]:
            visit(child)

    for node in [*roots, *results]:
        visit(node)
    return ordered


def indicators_in_chain_order(catalogue: Catalogue) -> list[Indicator]:
    """Indicators grouped by result in results-chain order, in catalogue order within a result."""
    rank = {node.code: i for i, node in enumerate(results_in_chain_order(catalogue.results))}
    return sorted(catalogue.indicators, key=lambda ind: rank.get(ind.result, len(rank)))


class _Lookup:
    """Names of results, dimensions and dimension values, for the labels of the sheets."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.results = {node.code: node for node in catalogue.results}
        self.dimensions = {dim.code: dim for dim in catalogue.dimensions}
        self.forms = {form.id: form for form in catalogue.forms}
        self._values: dict[str, dict[str, tuple[int, str]]] = {}

    def values(self, dimension_code: str) -> dict[str, tuple[int, str]]:
        """Value code → (position, French label) of a dimension's values."""
        if dimension_code not in self._values:
            dim = self.dimensions.get(dimension_code)
            values = dimension_values(dim) if dim else []
            self._values[dimension_code] = {v.code: (i, v.label.fr) for i, v in enumerate(values)}
        return self._values[dimension_code]

    def value_label(self, dimension_code: str, value_code: str) -> str:
        found = self.values(dimension_code).get(value_code)
        return found[1] if found else value_code

    def dimension_name(self, code: str) -> str:
        dim = self.dimensions.get(code)
        return dim.name.fr if dim else code

    def result_label(self, code: str) -> str:
        node = self.results.get(code)
        return f"{code} – {node.title.fr}" if node else code

    def split_key(self, indicator: Indicator, by: dict[str, str]) -> tuple[tuple[int, int, str], ...]:
        """Sort key of a target split: the indicator's disaggregation order, then the dimension's value order."""
        order = {code: i for i, code in enumerate(indicator.disaggregations)}
        key = []
        for dim_code, value_code in by.items():
            position = self.values(dim_code).get(value_code, (len(self.values(dim_code)), value_code))[0]
            key.append((order.get(dim_code, len(order)), position, value_code))
        return tuple(sorted(key))

    def split_label(self, indicator: Indicator, by: dict[str, str]) -> str:
        """`dont Femme`, or `dont Femme, Oriental` for a target split by two dimensions."""
        order = {code: i for i, code in enumerate(indicator.disaggregations)}
        dims = sorted(by, key=lambda code: (order.get(code, len(order)), code))
        return "dont " + ", ".join(self.value_label(code, by[code]) for code in dims)


def _lop_targets(indicator: Indicator, lookup: _Lookup) -> tuple[Target | None, list[Target]]:
    total = next((t for t in indicator.targets if t.period == LIFE_OF_PROGRAMME and not t.by), None)
    splits = [t for t in indicator.targets if t.period == LIFE_OF_PROGRAMME and t.by]
    splits.sort(key=lambda t: lookup.split_key(indicator, t.by))
    return total, splits


def _baseline_text(indicator: Indicator) -> str:
    """`40 % (40/100, 01/03/2026)`: the value, its numerator and denominator if any, and its date."""
    baseline = indicator.baseline
    details = [date_text(baseline.date)]
    if baseline.numerator is not None and baseline.denominator is not None:
        details.insert(0, f"{number_text(baseline.numerator)}/{number_text(baseline.denominator)}")
    return f"{quantity(baseline.value, indicator.unit.fr)} ({', '.join(details)})"


def _term_text(term: Term) -> str:
    text = AGGREGATION_LABELS[term.aggregation]
    if term.question:
        text += f" de « {term.question} »"
    if term.filter:
        text += f" [si {term.filter}]"
    return text


def _measure_text(measure: Measure) -> str:
    text = AGGREGATION_LABELS[measure.aggregation]
    if measure.question:
        text += f" de « {measure.question} »"
    if measure.numerator is not None and measure.denominator is not None:
        text += f"\nNumérateur : {_term_text(measure.numerator)}\nDénominateur : {_term_text(measure.denominator)}"
    if measure.pre and measure.post:
        text += f" (« {measure.pre} » → « {measure.post} »)"
    return text


def _risk_text(risk: Risk) -> str:
    grading = []
    if risk.likelihood:
        grading.append(f"probabilité : {LIKELIHOOD_LABELS[risk.likelihood]}")
    if risk.impact:
        grading.append(f"impact : {IMPACT_LABELS[risk.impact]}")
    text = f"• {risk.text.fr}"
    if grading:
        text += f" ({' ; '.join(grading)})"
    if risk.mitigation:
        text += f"\n  Atténuation : {risk.mitigation.fr}"
    return text


# --- sheets ------------------------------------------------------------------------------------------------------

LOGFRAME_COLUMNS = (
    Column("Niveau", 11),
    Column("Code", 10),
    Column("Intitulé", 40),
    Column("العنوان", 36, arabic=True),
    Column("Indicateurs", 45),
    Column("Valeur de référence", 26),
    Column("Cible fin de programme", 26),
    Column("Sources de vérification", 32),
    Column("Hypothèses", 36),
    Column("Risques", 44),
)


def _logframe_sheet(ws: Worksheet, catalogue: Catalogue, lookup: _Lookup) -> None:
    by_result: dict[str, list[Indicator]] = defaultdict(list)
    for indicator in catalogue.indicators:
        by_result[indicator.result].append(indicator)
    rows = []
    for node in results_in_chain_order(catalogue.results):
        indicators = by_result[node.code]
        baselines, targets = [], []
        for ind in indicators:
            unit = ind.unit.fr
            baselines.append(f"{ind.code} : {_baseline_text(ind)}")
            total, splits = _lop_targets(ind, lookup)
            text = f"{ind.code} : " + (quantity(total.value, unit) if total else "non définie")
            if splits:
                parts = [f"{lookup.split_label(ind, t.by)} : {number_text(t.value)}" for t in splits]
                text += f" ({' ; '.join(parts)})"
            targets.append(text)
        level = node.level
        style = RowStyle(
            fill=LEVEL_FILLS[level],
            font=BOLD if level in (ResultLevel.impact, ResultLevel.outcome) else None,
            indent=RESULT_LEVEL_ORDER[level],
            indented=(1, 2),
        )
        values = (
            LEVEL_LABELS[level],
            node.code,
            node.title.fr,
            node.title.ar,
            _lines(f"{ind.code} – {ind.name.fr}" for ind in indicators),
            _lines(baselines),
            _lines(targets),
            _lines(f"{ind.code} : {ind.data_source.fr}" for ind in indicators),
            _lines(f"• {assumption.fr}" for assumption in node.assumptions),
            _lines(_risk_text(risk) for risk in node.risks),
        )
        rows.append((values, style))
    table_sheet(ws, LOGFRAME_COLUMNS, freeze="C2")
    write_rows(ws, LOGFRAME_COLUMNS, rows)


INDICATOR_COLUMNS = (
    Column("Code", 10),
    Column("Résultat", 30),
    Column("Nom", 36),
    Column("الاسم", 32, arabic=True),
    Column("Définition", 48),
    Column("التعريف", 44, arabic=True),
    Column("Unité", 14),
    Column("Type de mesure", 14),
    Column("Échelle", 24),
    Column("Sens", 12),
    Column("Fréquence", 16),
    Column("Agrégation temporelle", 36),
    Column("Source des données", 30),
    Column("Méthode de collecte", 30),
    Column("Responsable", 20),
    Column("Référence – valeur", 12),
    Column("Référence – numérateur", 13),
    Column("Référence – dénominateur", 13),
    Column("Référence – date", 12),
    Column("Référence – source", 30),
    Column("Désagrégations", 24),
    Column("Références externes", 22),
    Column("Mesure – formulaire", 24),
    Column("Mesure – agrégation", 36),
    Column("Mesure – filtre", 30),
    Column("Seuil « en bonne voie »", 12),
    Column("Notes", 30),
    Column("Révision", 30),
)
_TOLERANCE_COLUMN = next(i for i, c in enumerate(INDICATOR_COLUMNS, start=1) if c.header.startswith("Seuil"))


def _indicator_sheet(ws: Worksheet, catalogue: Catalogue, lookup: _Lookup) -> None:
    rows = []
    for ind in indicators_in_chain_order(catalogue):
        baseline = ind.baseline
        source = baseline.source.fr + (f"\n{baseline.comment.fr}" if baseline.comment else "")
        form = lookup.forms.get(ind.measure.form)
        form_text = f"{ind.measure.form} – {form.title.fr}" if form else ind.measure.form
        references = (
            f"{VOCABULARY_LABELS[ref.vocabulary]} {ref.code}" + (f" ({ref.uri})" if ref.uri else "")
            for ref in ind.references
        )
        scale = _lines(f"{i}. {level.label.fr}" for i, level in enumerate(ind.scale.levels, 1)) if ind.scale else None
        values = (
            ind.code,
            lookup.result_label(ind.result),
            ind.name.fr,
            ind.name.ar,
            ind.definition.fr,
            ind.definition.ar,
            ind.unit.fr,
            MEASURE_TYPE_LABELS[ind.measure_type],
            scale,
            DIRECTION_LABELS[ind.direction],
            FREQUENCY_LABELS[ind.frequency],
            TIME_AGGREGATION_LABELS[ind.time_aggregation],
            ind.data_source.fr,
            ind.collection_method.fr,
            ind.responsible.fr,
            baseline.value,
            baseline.numerator,
            baseline.denominator,
            baseline.date,
            source,
            ", ".join(lookup.dimension_name(code) for code in ind.disaggregations) or None,
            _lines(references),
            form_text,
            _measure_text(ind.measure),
            ind.measure.filter,
            ind.on_track_tolerance,
            ind.notes.fr if ind.notes else None,
            _revision_text(ind.revision),
        )
        rows.append((values, RowStyle()))
    table_sheet(ws, INDICATOR_COLUMNS, freeze="C2")
    write_rows(ws, INDICATOR_COLUMNS, rows)
    for row in range(2, len(rows) + 2):
        ws.cell(row=row, column=_TOLERANCE_COLUMN).number_format = "0%"


def _target_columns(quarters: Sequence[str]) -> tuple[Column, ...]:
    return (
        Column("Code", 10),
        Column("Indicateur", 36),
        Column("Ventilation", 18),
        Column("Unité", 12),
        Column("Agrégation temporelle", 30),
        Column("Valeur de référence", 12),
        *(Column(quarter, 9) for quarter in quarters),
        Column(LOP_HEADER, 12),
        Column("Commentaires", 36),
    )


def _target_sheet(ws: Worksheet, catalogue: Catalogue, lookup: _Lookup) -> None:
    programme = catalogue.programme
    quarters = quarters_between(programme.first_period, programme.last_period)
    periods = [*quarters, LIFE_OF_PROGRAMME]
    columns = _target_columns(quarters)
    rows = []
    for ind in indicators_in_chain_order(catalogue):
        splits: dict[tuple[tuple[str, str], ...], dict[str, Target]] = {(): {}}
        for target in ind.targets:
            if target.period not in periods:
                raise ValueError(
                    f"indicator '{ind.code}': target period {target.period} is outside the programme "
                    f"({programme.first_period}–{programme.last_period})"
                )
            splits.setdefault(tuple(sorted(target.by.items())), {})[target.period] = target
        ordered = sorted(splits, key=lambda by: (bool(by), lookup.split_key(ind, dict(by))))
        for by in ordered:
            targets = splits[by]
            comments = _lines(
                f"{LOP_HEADER if period == LIFE_OF_PROGRAMME else period} : {targets[period].comment.fr}"  # type: ignore[union-attr]
                for period in periods
                if period in targets and targets[period].comment is not None
            )
            values = (
                ind.code,
                ind.name.fr,
                lookup.split_label(ind, dict(by)) if by else "Total",
                ind.unit.fr,
                TIME_AGGREGATION_LABELS[ind.time_aggregation],
                None if by else ind.baseline.value,
                *(targets[period].value if period in targets else None for period in periods),
                comments,
            )
            rows.append((values, RowStyle(font=ITALIC) if by else RowStyle()))
    table_sheet(ws, columns, freeze="D2")
    write_rows(ws, columns, rows)


DIMENSION_COLUMNS = (
    Column("Dimension", 14),
    Column("Nom", 22),
    Column("الاسم", 20, arabic=True),
    Column("Dimension parente", 16),
    Column("Référentiel", 30),
    Column("Sensible", 10),
    Column("Code valeur", 14),
    Column("Valeur", 30),
    Column("القيمة", 28, arabic=True),
    Column("Valeur parente", 28),
    Column("Attributs", 20),
)


def _dimension_sheet(ws: Worksheet, catalogue: Catalogue, lookup: _Lookup) -> None:
    rows = []
    for dim in catalogue.dimensions:
        values = dimension_values(dim)
        head = _dimension_head(dim)
        if not values:
            rows.append(((*head, None, None, None, None, None), RowStyle()))
        for value in values:
            parent = None
            if value.parent is not None:
                parent = value.parent
                if dim.parent is not None and value.parent in lookup.values(dim.parent):
                    parent = f"{value.parent} – {lookup.value_label(dim.parent, value.parent)}"
            attributes = _lines(f"{key} : {attr}" for key, attr in value.attributes.items() if attr is not None)
            rows.append(((*head, value.code, value.label.fr, value.label.ar, parent, attributes), RowStyle()))
    table_sheet(ws, DIMENSION_COLUMNS, freeze="B2")
    write_rows(ws, DIMENSION_COLUMNS, rows)


def _dimension_head(dim: Dimension) -> tuple[Any, ...]:
    return (
        dim.code,
        dim.name.fr,
        dim.name.ar,
        dim.parent,
        REFERENCE_SET_LABELS[dim.reference] if dim.reference else None,
        "Oui" if dim.sensitive else "Non",
    )


def _revision_sheet(ws: Worksheet, catalogue: Catalogue, generated: dt.datetime) -> None:
    programme = catalogue.programme
    revision = catalogue.revision
    facts: list[tuple[str, Any, bool]] = [
        ("Programme", programme.code, False),
        ("Intitulé du programme", programme.title.fr, False),
        ("عنوان البرنامج", programme.title.ar, True),
        ("Début", programme.start, False),
        ("Fin", programme.end, False),
        ("Premier trimestre", programme.first_period, False),
        ("Dernier trimestre", programme.last_period, False),
        ("Bailleurs", ", ".join(programme.donors) or None, False),
        ("Opérateur", programme.implementer, False),
        ("Date de la révision du catalogue", revision.date, False),
        ("Motif de la révision", REVISION_REASON_LABELS[revision.reason], False),
        ("Justification", revision.rationale, False),
        ("Nombre de résultats", len(catalogue.results), False),
        ("Nombre d'indicateurs", len(catalogue.indicators), False),
        ("Nombre de dimensions", len(catalogue.dimensions), False),
        ("Document généré le", generated, False),
        (
            "Note",
            "Document généré automatiquement par SERA à partir du catalogue d'indicateurs. Ne pas le modifier : "
            "toute modification passe par le catalogue, avec sa date, son motif et sa justification.",
            False,
        ),
    ]
    for col, width in zip("ABCDE", (32, 60, 12, 28, 60), strict=True):
        ws.column_dimensions[col].width = width
    header_cells(ws, 1, ("Rubrique", "Valeur"))
    for row, (label, value, arabic) in enumerate(facts, start=2):
        put(ws, row, 1, label, arabic=arabic, style=RowStyle(font=BOLD))
        put(ws, row, 2, value, arabic=arabic)
    print_setup(ws)

    revised: list[tuple[str, str, Revision]] = [
        *(("Résultat", node.code, node.revision) for node in catalogue.results if node.revision),
        *(("Dimension", dim.code, dim.revision) for dim in catalogue.dimensions if dim.revision),
        *(("Indicateur", ind.code, ind.revision) for ind in catalogue.indicators if ind.revision),
        *(("Formulaire", form.id, form.revision) for form in catalogue.forms if form.revision),
    ]
    row = len(facts) + 3
    put(ws, row, 1, "Révisions des éléments", style=RowStyle(font=BOLD))
    if not revised:
        put(ws, row, 2, "Aucun élément ne porte de révision propre.")
        return
    row += 1
    header_cells(ws, row, ("Élément", "Code", "Date", "Motif", "Justification"))
    for kind, code, rev in revised:
        row += 1
        for col, value in enumerate((kind, code, rev.date, REVISION_REASON_LABELS[rev.reason], rev.rationale), 1):
            put(ws, row, col, value)


def write_logframe(catalogue: Catalogue, out: Path, *, generated: dt.datetime | None = None) -> None:
    """Write the catalogue as an XLSX logframe at `out`; `generated` (default: now) is the date the file shows."""
    generated = (generated or dt.datetime.now()).replace(microsecond=0, tzinfo=None)
    lookup = _Lookup(catalogue)
    workbook = Workbook()
    logframe = workbook.active
    logframe.title = SHEET_LOGFRAME
    _logframe_sheet(logframe, catalogue, lookup)
    _indicator_sheet(workbook.create_sheet(SHEET_INDICATORS), catalogue, lookup)
    _target_sheet(workbook.create_sheet(SHEET_TARGETS), catalogue, lookup)
    _dimension_sheet(workbook.create_sheet(SHEET_DIMENSIONS), catalogue, lookup)
    _revision_sheet(workbook.create_sheet(SHEET_REVISION), catalogue, generated)
    title = catalogue.programme.title.fr.replace("&", "&&")
    for ws in workbook.worksheets:
        ws.oddHeader.center.text = f"{catalogue.programme.code} – {title}"
        ws.oddFooter.right.text = "&P / &N"
    workbook.properties.title = f"Cadre logique – {catalogue.programme.title.fr}"
    workbook.properties.creator = "SERA"
    workbook.save(out)
