"""Media CSVs for `select_one_from_file` questions, generated from dimension values for offline use.

Format (one row per dimension value, UTF-8, `\\n` line ends, fixed column order):

    name,label,label_fr,label_ar,<parent dimension>,<grandparent dimension>,...
    02.113.01.01,Ahfir / أحفير,Ahfir,أحفير,02.113,02

Collect turns every CSV column into an XML element of a secondary instance, so a column must be an XML name:
`label::Français (fr)` is not one, and Collect refuses to download such a form (getodk/collect#4266). Selects
from a file show the single `label` column, so it carries both languages; `label_fr` and `label_ar` keep each
language for lookups (`instance('communes')/root/item[name=${commune}]/label_ar`). The ancestor columns are
named after the dimension codes (`province`, `region`) so cascades read `choice_filter: province=${province}`.
"""

import csv
import hashlib
import io

from catalogue.model import FormSpec, walk_questions
from xlsforms.columns import bilingual
from xlsforms.lookup import Lookup

MEDIA_COLUMNS = ("name", "label", "label_fr", "label_ar")


def media_columns(lookup: Lookup, dimension: str) -> list[str]:
    """The columns of a dimension's media CSV (what a choice_filter on it may name)."""
    return [*MEDIA_COLUMNS, *lookup.ancestors(dimension)]


def media_csv(lookup: Lookup, dimension: str) -> bytes:
    """The CSV listing a dimension's values, with their labels and ancestors' codes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(media_columns(lookup, dimension))
    for row in lookup.value_rows(dimension):
        label = row.value.label
        writer.writerow([row.code, bilingual(label), label.fr, label.ar, *row.ancestors.values()])
    return buffer.getvalue().encode("utf-8")


def media_files(form: FormSpec) -> list[str]:
    """The media file names a form uses, sorted."""
    return sorted({question.file for _, question in walk_questions(form.questions) if question.file})


def form_media(lookup: Lookup, form: FormSpec) -> dict[str, bytes]:
    """File name → CSV bytes for every media file a form uses; raises KeyError on a file naming no dimension."""
    media: dict[str, bytes] = {}
    for filename in media_files(form):
        dimension = lookup.media_dimension(filename)
        if dimension is None:
            raise KeyError(f"form '{form.id}': media file '{filename}' maps to no dimension")
        media[filename] = media_csv(lookup, dimension.code)
    return media


def sha256(content: bytes) -> str:
    """Hex digest of a file's bytes, as recorded in the manifest."""
    return hashlib.sha256(content).hexdigest()
