"""Writing a quarterly report as an XLSX workbook, in French with the Arabic names, for AFD and the EU.

Sheets: `Synthèse` (what the report is, how to read it, the statuses and findings at a glance), `Suivi des
indicateurs` (the tracking table in results-chain order, split by sex), `Désagrégations` (the other required
splits), `Graphiques` (progress towards the life-of-programme targets, people reached by sex, quarterly series of
the outcome indicators), one sheet per partner, `Qualité des données` and `Retraitements`. A partner's copy has
the summary, its own sheet, its findings and its restatements. Figures are numeric cells; a suppressed figure
reads `masqué` (never a bound such as `< 5`: a cell hidden to protect another may be large), a missing one stays
empty.
"""

import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from analysis.report.content import PROGRAMME, Figure, IttRow, ReportContent
from catalogue.model import ResultLevel
from catalogue.xlsx_sheets import (
    BOLD,
    ITALIC,
    LEVEL_FILLS,
    Column,
    RowStyle,
    date_text,
    fit_height,
    header_cells,
    number_text,
    print_setup,
    put,
    table_sheet,
    write_rows,
)

SHEET_SUMMARY = "Synthèse"
SHEET_ITT = "Suivi des indicateurs"
SHEET_SPLITS = "Désagrégations"
SHEET_CHARTS = "Graphiques"
SHEET_QUALITY = "Qualité des données"
SHEET_RESTATEMENTS = "Retraitements"
PERCENT = '0.0" %"'
DECIMAL = "#,##0.0"

STATUS_LABELS: dict[str, str] = {
    "on_track": "Conforme à la cible",
    "off_track": "En retard sur la cible",
    "exceeded": "Cible dépassée",
    "no_target": "Pas de cible pour la période",
    "no_data": "Pas de donnée",
    "suppressed": "Masqué (confidentialité)",
}
CHECK_LABELS: dict[str, str] = {
    "missing_report": "Rapport attendu non reçu",
    "late_submission": "Soumission tardive",
    "duplicate_person": "Personne en double dans une activité",
    "duplicate_report": "Fiche de démarrage en double",
    "out_of_range": "Valeur hors plage",
    "outlier": "Valeur atypique",
    "disaggregation_total": "Total différent de la somme des ventilations",
    "unknown_form_version": "Version de formulaire inconnue",
    "unstorable_value": "Valeur non enregistrable telle quelle",
}
SEVERITY_LABELS: dict[str, str] = {"error": "Erreur", "warning": "Avertissement", "info": "Information"}
COLUMN_LABELS: dict[str, str] = {"period": "Réalisé du trimestre", "to_date": "Cumul à date"}
TIME_AGGREGATION_SHORT: dict[str, str] = {
    "sum": "Somme des trimestres",
    "cumulative": "Cumul à date",
    "latest": "Dernière valeur",
    "unique_people": "Personnes uniques",
}


def partner_sheet_title(code: str) -> str:
    """`Partenaire SM-01`, cut to Excel's 31 characters, without the characters sheet names refuse."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in code)
    return f"Partenaire {cleaned}"[:31]


def report_xlsx(content: ReportContent) -> bytes:
    """The workbook of a report (or of a partner's copy)."""
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = SHEET_SUMMARY
    _summary(summary, content)
    if content.scope == PROGRAMME:
        _itt(wb.create_sheet(SHEET_ITT), content, [r for r in content.itt if r.scope == PROGRAMME], partner=False)
        _splits(wb.create_sheet(SHEET_SPLITS), content)
        _charts(wb.create_sheet(SHEET_CHARTS), content)
    for partner in content.partners:
        rows = [r for r in content.itt if r.scope == partner.code]
        _itt(wb.create_sheet(partner_sheet_title(partner.code)), content, rows, partner=True)
    _quality(wb.create_sheet(SHEET_QUALITY), content)
    _restatements(wb.create_sheet(SHEET_RESTATEMENTS), content)
    stamp = (content.issued_at or content.generated_at).astimezone(dt.UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.title = _title(content)
    wb.properties.creator = "SERA"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _title(content: ReportContent) -> str:
    return f"{content.programme_code} – rapport trimestriel {content.period}"


HIDDEN = "masqué"
"""What a suppressed figure reads: hidden, with no bound (Arabic: `HIDDEN_AR`)."""
HIDDEN_AR = "مخفي"


def _figure(figure: Figure | None, threshold: int) -> float | str | None:
    if figure is None:
        return None
    if figure.suppressed:
        return HIDDEN
    return figure.value


def _ratio_text(figure: Figure | None) -> str | None:
    if figure is None or figure.suppressed or figure.denominator is None:
        return None
    return f"{_number(figure.numerator)} / {_number(figure.denominator)}"


def _number(value: float | None) -> str:
    return "—" if value is None else number_text(round(value, 2))


def _moment(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%d/%m/%Y %H:%M UTC")


# --- Synthèse ----------------------------------------------------------------------------------------------------


def _summary(ws: Worksheet, content: ReportContent) -> None:
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 38
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["C"].width = 40
    ws["A1"] = _title(content)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = content.programme_title.fr
    put(ws, 2, 3, content.programme_title.ar, arabic=True)
    scope = "Programme (tous partenaires)"
    if content.scope != PROGRAMME:
        label = content.partners[0].label.fr if content.partners else content.scope
        scope = f"Copie du partenaire {content.scope} – {label}"
    status = (
        f"Émis le {_moment(content.issued_at)} (édition n° {content.issue})"
        if content.issue is not None
        else "PROJET – non émis : les chiffres peuvent encore changer"
    )
    facts: list[tuple[str, Any]] = [
        ("Trimestre", content.period),
        ("Statut du rapport", status),
        *(
            [
                (
                    "Données",
                    "DÉMONSTRATION – chiffres calculés sur des données synthétiques (`sera demo`), à ne pas diffuser",
                )
            ]
            if content.demo
            else []
        ),
        ("Périmètre", scope),
        ("Bailleurs", ", ".join(content.donors) or None),
        ("Valeurs calculées le", _moment(content.values_computed_at)),
        ("Catalogue chargé le", _moment(content.catalogue_loaded_at)),
        ("Document produit le", _moment(content.generated_at)),
        (
            "Lecture",
            "Les valeurs sont placées dans le trimestre de la date de l'activité (pas de la date d'envoi). "
            "Les personnes sont comptées une seule fois (clé pseudonyme), les pourcentages sont Σ numérateurs / "
            "Σ dénominateurs. « Cumul à date » suit l'agrégation temporelle de chaque indicateur.",
        ),
        (
            "Confidentialité",
            f"Les effectifs de moins de {content.threshold} personnes sont masqués (« {HIDDEN} », {HIDDEN_AR}), "
            "ainsi que les cases qui permettraient de les retrouver par calcul (loi 09-08). Une case masquée peut "
            "être petite ou grande : sa valeur n'est pas indiquée.",
        ),
        (
            "Retraitements",
            f"{len(content.restatements)} chiffre(s) déjà publiés ont changé depuis leur émission : "
            f"voir « {SHEET_RESTATEMENTS} ».",
        ),
    ]
    row = 4
    for label, value in facts:
        put(ws, row, 1, label, style=RowStyle(font=BOLD))
        put(ws, row, 2, value)
        fit_height(ws, row, [label, value], [38, 70])
        row += 1
    row += 1
    totals = [r for r in content.itt if not r.split]
    statuses = Counter(r.status for r in totals)
    header_cells(ws, row, ("Statut des indicateurs (trimestre)", "Nombre d'indicateurs"))
    for code, label in STATUS_LABELS.items():
        row += 1
        put(ws, row, 1, label)
        put(ws, row, 2, statuses.get(code, 0))
    row += 2
    checks = Counter(f.check for f in content.findings)
    header_cells(ws, row, ("Constats qualité des données", "Nombre"))
    for code, label in CHECK_LABELS.items():
        row += 1
        put(ws, row, 1, label)
        put(ws, row, 2, checks.get(code, 0))
    print_setup(ws)
    ws.print_title_rows = None


# --- Suivi des indicateurs and partner sheets -------------------------------------------------------------------


ITT_COLUMNS = (
    Column("Résultat", 10),
    Column("Code", 10),
    Column("Indicateur", 46),
    Column("المؤشر", 40, arabic=True),
    Column("Unité", 12),
    Column("Ventilation", 16),
    Column("التصنيف", 14, arabic=True),
    Column("Agrégation dans le temps", 20),
    Column("Valeur de référence", 12, number_format=DECIMAL),
    Column("Cible du trimestre", 12, number_format=DECIMAL),
    Column("Réalisé du trimestre", 12, number_format=DECIMAL),
    Column("Numérateur / dénominateur", 16),
    Column("% de la cible du trimestre", 12, number_format=PERCENT),
    Column("Statut", 27),
    Column("Cumul à date", 12, number_format=DECIMAL),
    Column("Cible fin de programme", 12, number_format=DECIMAL),
    Column("% de la cible fin de programme", 14, number_format=PERCENT),
)


def _itt_values(row: IttRow, threshold: int) -> list[Any]:
    return [
        row.result,
        row.indicator,
        row.name.fr if not row.split else "",
        row.name.ar if not row.split else "",
        row.unit.fr,
        row.split_label.fr if row.split_label else "Total",
        row.split_label.ar if row.split_label else "المجموع",
        "" if row.split else TIME_AGGREGATION_SHORT.get(row.time_aggregation, row.time_aggregation),
        row.baseline,
        row.period_target,
        _figure(row.period, threshold),
        _ratio_text(row.period),
        row.period_achievement,
        STATUS_LABELS.get(row.status, row.status),
        _figure(row.to_date, threshold),
        row.lop_target,
        row.lop_achievement,
    ]


def _itt(ws: Worksheet, content: ReportContent, rows: Sequence[IttRow], *, partner: bool) -> None:
    table_sheet(ws, ITT_COLUMNS, freeze="D2")
    if not rows:
        put(
            ws,
            2,
            1,
            "Aucun indicateur de ce périmètre n'est ventilé par partenaire." if partner else "Aucun indicateur.",
        )
        return

    def styled() -> Iterable[tuple[list[Any], RowStyle]]:
        for row in rows:
            if row.split:
                yield _itt_values(row, content.threshold), RowStyle(font=ITALIC, indent=2, indented=(5,))
            else:
                fill = LEVEL_FILLS.get(ResultLevel(row.level)) if row.level else None
                yield _itt_values(row, content.threshold), RowStyle(fill=fill, font=BOLD)

    write_rows(ws, ITT_COLUMNS, styled())


# --- Désagrégations --------------------------------------------------------------------------------------------

SPLIT_COLUMNS = (
    Column("Indicateur", 10),
    Column("Dimension", 22),
    Column("البعد", 20, arabic=True),
    Column("Valeur", 30),
    Column("القيمة", 30, arabic=True),
    Column("Réalisé du trimestre", 14, number_format=DECIMAL),
    Column("Cumul à date", 14, number_format=DECIMAL),
)


def _splits(ws: Worksheet, content: ReportContent) -> None:
    table_sheet(ws, SPLIT_COLUMNS)
    write_rows(
        ws,
        SPLIT_COLUMNS,
        (
            (
                [
                    row.indicator,
                    row.dimension_name.fr,
                    row.dimension_name.ar,
                    row.label.fr,
                    row.label.ar,
                    _figure(row.period, content.threshold),
                    _figure(row.to_date, content.threshold),
                ],
                RowStyle(),
            )
            for row in content.disaggregations
        ),
    )


# --- Graphiques --------------------------------------------------------------------------------------------------


def _charts(ws: Worksheet, content: ReportContent) -> None:
    """Three charts, each next to the small table it reads (charts in a workbook chart cells, not pictures)."""
    for letter in "ABC":
        ws.column_dimensions[letter].width = 14
    totals = [r for r in content.itt if r.scope == PROGRAMME and not r.split]
    progress = [(r.indicator, r.lop_achievement) for r in totals if r.lop_achievement is not None]
    row = _chart_table(ws, 1, ("Indicateur", "% de la cible FdP"), progress)
    if progress:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Avancement vers la cible de fin de programme (%)"
        chart.y_axis.title = "%"
        chart.legend = None
        _plot(chart, ws, 1, len(progress), 2)
        chart.height = max(7.5, 0.5 * len(progress))
        ws.add_chart(chart, "D1")

    people = [r for r in content.itt if r.scope == PROGRAMME and set(r.split) == {"sex"} and not r.percentage]
    by_indicator: dict[str, dict[str, Any]] = {}
    for r in people:
        value = r.to_date.value if r.to_date is not None and not r.to_date.suppressed else None
        by_indicator.setdefault(r.indicator, {})[r.split["sex"]] = value
    sex_rows = [(code, v.get("female"), v.get("male")) for code, v in by_indicator.items()]
    start = row + 2
    row = _chart_table(ws, start, ("Indicateur", "Femmes", "Hommes"), sex_rows)
    if sex_rows:
        chart = BarChart()
        chart.type = "col"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = "Personnes et participations à date, par sexe"
        _plot(chart, ws, start, len(sex_rows), 3)
        ws.add_chart(chart, f"D{start}")

    outcome_levels = {ResultLevel.impact.value, ResultLevel.outcome.value}
    for r in totals:
        if r.level not in outcome_levels:
            continue
        points = [p for p in content.series if p.indicator == r.indicator]
        series = [(p.period, _figure(p.actual, content.threshold), p.target) for p in points]
        start = row + 2
        row = _chart_table(ws, start, ("Trimestre", f"{r.indicator} réalisé", f"{r.indicator} cible"), series)
        chart = LineChart()
        chart.title = f"{r.indicator} – {r.name.fr}"[:120]
        _plot(chart, ws, start, len(series), 3)
        ws.add_chart(chart, f"D{start}")
    print_setup(ws)
    ws.print_title_rows = None


def _chart_table(ws: Worksheet, start: int, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """A small table for a chart at row `start`; returns the last row used (leaving room for the chart)."""
    header_cells(ws, start, headers)
    for offset, values in enumerate(rows, start=1):
        for col, value in enumerate(values, start=1):
            put(ws, start + offset, col, value)
            if isinstance(value, float) and not value.is_integer():
                ws.cell(row=start + offset, column=col).number_format = DECIMAL
    return max(start + len(rows), start + 16)


def _plot(chart: BarChart | LineChart, ws: Worksheet, start: int, count: int, last_column: int) -> None:
    data = Reference(ws, min_col=2, max_col=last_column, min_row=start, max_row=start + count)
    categories = Reference(ws, min_col=1, min_row=start + 1, max_row=start + count)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(categories)
    chart.width = 18


# --- Qualité des données and Retraitements ----------------------------------------------------------------------

QUALITY_COLUMNS = (
    Column("Contrôle", 28),
    Column("Gravité", 14),
    Column("Trimestre", 10),
    Column("Formulaire", 16),
    Column("Partenaire", 12),
    Column("Objet", 28),
    Column("Constat", 60),
    Column("الملاحظة", 50, arabic=True),
    Column("Valeur", 10, number_format=DECIMAL),
    Column("Soumissions concernées", 30),
)


def _quality(ws: Worksheet, content: ReportContent) -> None:
    table_sheet(ws, QUALITY_COLUMNS)
    if not content.findings:
        put(ws, 2, 1, "Aucun constat pour ce trimestre.")
        return
    write_rows(
        ws,
        QUALITY_COLUMNS,
        (
            (
                [
                    CHECK_LABELS.get(f.check, f.check),
                    SEVERITY_LABELS.get(f.severity, f.severity),
                    f.period,
                    f.form_id,
                    f.partner,
                    f.subject,
                    f.message.fr,
                    f.message.ar,
                    f.value,
                    ", ".join(f.submissions[:20]) + (" …" if len(f.submissions) > 20 else ""),
                ],
                RowStyle(),
            )
            for f in content.findings
        ),
    )


RESTATEMENT_COLUMNS = (
    Column("Rapport", 10),
    Column("Édition", 8),
    Column("Émis le", 12),
    Column("Périmètre", 12),
    Column("Indicateur", 10),
    Column("Chiffre", 18),
    Column("Ventilation", 16),
    Column("Publié", 12, number_format=DECIMAL),
    Column("Aujourd'hui", 12, number_format=DECIMAL),
    Column("Écart", 12, number_format=DECIMAL),
)


def _restatements(ws: Worksheet, content: ReportContent) -> None:
    table_sheet(ws, RESTATEMENT_COLUMNS)
    if not content.restatements:
        put(ws, 2, 1, "Aucun chiffre publié n'a changé.")
        return

    def values(r: Any) -> list[Any]:
        before, after = _figure(r.reported, content.threshold), _figure(r.current, content.threshold)
        numeric = isinstance(before, int | float) and isinstance(after, int | float)
        return [
            r.report_period,
            r.issue,
            date_text(r.issued_at.date()),
            "Programme" if r.scope == PROGRAMME else r.scope,
            r.indicator,
            COLUMN_LABELS.get(r.column, r.column),
            r.split_label.fr if r.split_label else "Total",
            before,
            after,
            after - before if numeric else None,
        ]

    write_rows(ws, RESTATEMENT_COLUMNS, ((values(r), RowStyle()) for r in content.restatements))
