"""Rows → XForm XML with pyxform, and the XML through ODK Validate (the JavaRosa parser Collect itself uses).

pyxform converts in memory from the rows dict; ODK Validate is the jar pyxform ships, run with Java on a
temporary file, so a form that passes here opens in Collect. Validation of several forms runs in parallel:
each call is a separate JVM (about half a second), which is most of a build's time.
"""

import copy
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyxform.errors import PyXFormError
from pyxform.validators.odk_validate import ODKValidateError, check_xform
from pyxform.xls2xform import convert

from xlsforms.columns import Sheets


class XFormError(Exception):
    """pyxform or ODK Validate refused a form; the message names the form."""


def to_xform(form_id: str, sheets: Sheets, warnings: list[str] | None = None) -> str:
    """The XForm XML of an XLSForm (pretty printed, so builds diff well in git); pyxform warnings are appended."""
    found: list[str] = []
    try:
        result = convert(copy.deepcopy(dict(sheets)), warnings=found, pretty_print=True)  # pyxform may edit rows
    except PyXFormError as error:
        raise XFormError(f"form '{form_id}': pyxform: {error}") from error
    if warnings is not None:
        warnings.extend(f"form '{form_id}': {warning}" for warning in found)
    return result.xform


def odk_validate(form_id: str, xform: str) -> list[str]:
    """Run ODK Validate on an XForm; returns its warnings, raises XFormError with its errors."""
    with tempfile.TemporaryDirectory(prefix="sera-xform-") as tmp:
        path = Path(tmp) / f"{form_id}.xml"
        path.write_text(xform, encoding="utf-8")
        try:
            messages = check_xform(str(path))
        except ODKValidateError as error:
            raise XFormError(f"form '{form_id}': {_trim(str(error))}") from error
    return [f"form '{form_id}': {message}" for message in messages]


def _trim(message: str) -> str:
    """ODK Validate's message without its closing boilerplate (the temporary file name, "Result: Invalid")."""
    kept = message.split("The following files failed validation:")[0]
    return kept.strip()


def odk_validate_all(xforms: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Validate many XForms in parallel; returns (errors, warnings), each naming its form, in form order."""
    errors: list[str] = []
    warnings: list[str] = []

    def run(item: tuple[str, str]) -> tuple[list[str], str | None]:
        try:
            return odk_validate(*item), None
        except XFormError as error:
            return [], str(error)

    workers = max(1, min(len(xforms), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for found, error in pool.map(run, xforms.items()):
            warnings.extend(found)
            if error is not None:
                errors.append(error)
    return errors, warnings
