"""XLSForm vocabulary in one place: languages, column names, metadata questions, the dict shape pyxform takes."""

from catalogue.model import FORM_METADATA, RESERVED_QUESTION_NAMES, Text

FRENCH = "Français (fr)"
ARABIC = "العربية (ar)"
DEFAULT_LANGUAGE = FRENCH
LANGUAGES: tuple[tuple[str, str], ...] = (("fr", FRENCH), ("ar", ARABIC))
"""(Text attribute, XLSForm language name) pairs, in column order."""

TRANSLATED_COLUMNS = ("label", "hint", "required_message", "constraint_message")

METADATA = FORM_METADATA
"""(type, name) of the metadata every form records, first in the survey sheet (defined with the catalogue model)."""

RESERVED_NAMES = RESERVED_QUESTION_NAMES
"""Names a spec question cannot take: the metadata above and what pyxform generates."""

FORM_STYLE = "pages"
"""Enketo theme: one screen per question or field-list group, which is what phones in the field want."""

SURVEY_COLUMNS = (
    "type",
    "name",
    *(f"{column}::{language}" for column in ("label", "hint") for _, language in LANGUAGES),
    "required",
    *(f"required_message::{language}" for _, language in LANGUAGES),
    "constraint",
    *(f"constraint_message::{language}" for _, language in LANGUAGES),
    "relevant",
    "calculation",
    "default",
    "appearance",
    "parameters",
    "choice_filter",
    "repeat_count",
    "read_only",
)
CHOICES_COLUMNS = ("list_name", "name", *(f"label::{language}" for _, language in LANGUAGES), "score")
SETTINGS_COLUMNS = ("form_id", "form_title", "version", "default_language", "instance_name", "style")
SHEET_COLUMNS = {"survey": SURVEY_COLUMNS, "choices": CHOICES_COLUMNS, "settings": SETTINGS_COLUMNS}

Row = dict[str, str]
Sheets = dict[str, list[Row]]
"""An XLSForm as pyxform's `convert()` takes it: sheet name → rows of column → cell text."""


def translated(column: str, text: Text | None) -> Row:
    """The `column::language` cells of a bilingual text (none when the text is absent)."""
    if text is None:
        return {}
    return {f"{column}::{language}": getattr(text, attribute) for attribute, language in LANGUAGES}


def bilingual(text: Text) -> str:
    """One string carrying both languages, for places that hold one label only (media CSVs, form title)."""
    return text.fr if text.fr == text.ar else f"{text.fr} / {text.ar}"
