"""Rows → `.xlsx` with openpyxl: the workbook a person opens, and the one uploaded to Kobo or Central.

Columns follow a fixed order (known columns first, then any extra such as cascade columns, as first seen), so
two builds of the same catalogue give workbooks with the same cells even though the zip bytes differ.
"""

import io
from pathlib import Path

from openpyxl import Workbook, load_workbook

from xlsforms.columns import SHEET_COLUMNS, Sheets


def sheet_header(sheet: str, rows: list[dict[str, str]]) -> list[str]:
    """The columns of a sheet: the known ones it uses, in canonical order, then the others as first seen."""
    used = {column for row in rows for column in row}
    known = [column for column in SHEET_COLUMNS.get(sheet, ()) if column in used]
    extra = [column for row in rows for column in row if column not in known]
    return known + list(dict.fromkeys(extra))


def write_xlsx(sheets: Sheets, path: Path) -> None:
    """Write an XLSForm workbook file."""
    path.write_bytes(xlsx_bytes(sheets))


def xlsx_bytes(sheets: Sheets) -> bytes:
    """An XLSForm workbook: one sheet per key of `sheets`, a header row, then the rows."""
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        header = sheet_header(name, rows)
        for row_index, values in enumerate([header, *([row.get(column) for column in header] for row in rows)], 1):
            for column_index, value in enumerate(values, 1):
                if value is None:
                    continue
                cell = sheet.cell(row=row_index, column=column_index, value=value)
                cell.data_type = "s"  # text, always: a calculation such as "=1" must not become an Excel formula
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def read_xlsx(path: Path) -> Sheets:
    """Read an XLSForm workbook back into rows (cells as text, empty cells left out)."""
    book = load_workbook(path, read_only=True)
    sheets: Sheets = {}
    for sheet in book.worksheets:
        rows = sheet.iter_rows(values_only=True)
        header = [str(cell) for cell in next(rows, ())]
        sheets[sheet.title] = [
            {column: str(cell) for column, cell in zip(header, row, strict=False) if cell not in (None, "")}
            for row in rows
        ]
    book.close()
    return sheets
