"""Writing tables to XLSX sheets the way programme officers expect them: the house style of every workbook.

Numbers stay numeric cells and dates date cells, so readers can sort, filter and chart them; text is cleaned of
XML-illegal characters and never read as a formula; Arabic columns are right-to-left; headers are frozen,
filtered and repeated on every printed page (A4 landscape, fitted to the width).
"""

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from catalogue.model import ResultLevel

# --- styles ------------------------------------------------------------------------------------------------------

THIN = Side(style="thin", color="A6A6A6")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
HEADER_FONT = Font(bold=True, color="FFFFFF")
BOLD = Font(bold=True)
LEVEL_FILLS = {
    ResultLevel.impact: PatternFill("solid", fgColor="BDD7EE"),
    ResultLevel.outcome: PatternFill("solid", fgColor="DDEBF7"),
    ResultLevel.output: PatternFill("solid", fgColor="F2F2F2"),
    ResultLevel.activity: None,
}
ITALIC = Font(italic=True)
DATE_FORMAT = "DD/MM/YYYY"
DATETIME_FORMAT = "DD/MM/YYYY HH:MM"
INTEGER_FORMAT = "#,##0"


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    arabic: bool = False
    number_format: str | None = None
    """For the column's fractional numbers (one decimal, say); whole numbers keep `INTEGER_FORMAT`."""


@dataclass(frozen=True)
class RowStyle:
    """How a data row looks: shading, bold or italic text, and indentation of the columns that show the tree."""

    fill: PatternFill | None = None
    font: Font | None = None
    indent: int = 0
    indented: tuple[int, ...] = ()
    """Column positions (0-based) that take the indentation."""


def alignment(arabic: bool, indent: int = 0, header: bool = False) -> Alignment:
    if arabic:
        return Alignment(horizontal="right", vertical="top", wrap_text=True, readingOrder=2)
    if header:
        return Alignment(horizontal="center", vertical="center", wrap_text=True)
    return Alignment(horizontal="left" if indent else None, vertical="top", wrap_text=True, indent=indent)


def put(ws: Worksheet, row: int, col: int, value: Any, *, arabic: bool = False, style: RowStyle = RowStyle()) -> None:
    """Write one cell: numbers as numbers, dates as dates, text safe from formula and XML-illegal characters."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value) or None
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    if isinstance(value, dt.datetime):
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, int) and not isinstance(value, bool):
        cell.number_format = INTEGER_FORMAT
    indent = style.indent if col - 1 in style.indented else 0
    cell.alignment = alignment(arabic, indent)
    cell.border = BORDER
    if style.fill is not None:
        cell.fill = style.fill
    if style.font is not None:
        cell.font = style.font


def header_cells(ws: Worksheet, row: int, columns: Sequence[Column | str]) -> None:
    for col, column in enumerate(columns, start=1):
        header, arabic = (column, False) if isinstance(column, str) else (column.header, column.arabic)
        cell = ws.cell(row=row, column=col, value=header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = alignment(arabic, header=True)


def table_sheet(ws: Worksheet, columns: Sequence[Column], freeze: str = "A2") -> None:
    """The header row, column widths, frozen header, filter and print setup of a table sheet."""
    header_cells(ws, 1, columns)
    for col, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(col)].width = column.width
    fit_height(ws, 1, [c.header for c in columns], [c.width for c in columns], bold=True)
    ws.freeze_panes = freeze
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}1"
    print_setup(ws)


def print_setup(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"


def write_rows(ws: Worksheet, columns: Sequence[Column], rows: Iterable[tuple[Sequence[Any], RowStyle]]) -> None:
    for row_number, (values, style) in enumerate(rows, start=2):
        if len(values) != len(columns):
            raise ValueError(f"sheet {ws.title}: a row of {len(values)} cells for {len(columns)} columns")
        for col, (value, column) in enumerate(zip(values, columns, strict=True), start=1):
            put(ws, row_number, col, value, arabic=column.arabic, style=style)
            if column.number_format and isinstance(value, float) and not value.is_integer():
                ws.cell(row=row_number, column=col).number_format = column.number_format
        fit_height(ws, row_number, values, [c.width for c in columns], bold=style.font is not None and style.font.b)


LINE_HEIGHT = 15.0
"""Points per line of 11-point text."""


def fit_height(ws: Worksheet, row: int, values: Sequence[Any], widths: Sequence[float], *, bold: bool = False) -> None:
    """Give a row the height its wrapped text needs: spreadsheet programs do not grow rows written by openpyxl,
    so without it long labels overlap the next row (seen in LibreOffice)."""
    lines = 1
    for value, width in zip(values, widths, strict=False):
        if not isinstance(value, str):
            continue
        per_line = max(1.0, (width - 1) * (0.85 if bold else 1.0))
        lines = max(lines, sum(math.ceil(len(part) / per_line) or 1 for part in value.split("\n")))
    if lines > 1:
        ws.row_dimensions[row].height = LINE_HEIGHT * lines


# --- text helpers ------------------------------------------------------------------------------------------------


def number_text(value: float) -> str:
    """A number written the French way: `1 234`, `12,5`."""
    text = f"{int(value):_}" if float(value).is_integer() else f"{value:_.6f}".rstrip("0").rstrip(".")
    return text.replace("_", "\u202f").replace(".", ",")


def date_text(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def quantity(value: float, unit: str) -> str:
    return f"{number_text(value)} {unit}"
