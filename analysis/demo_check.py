"""Checks a Kobo-shaped submission against its form spec, the way a phone would have judged the answers.

Keys must be the form's question paths (groups joined by `/`, repeats as lists of dicts keyed by full paths),
answers must be strings of the question's type, choices must exist (choice lists, dimension values, media
files) and pass their choice_filter cascade, non-relevant questions must be absent and relevant required ones
present, constraints must hold and calculations must give what is stored. The demo generator runs this on the
first rows of each form, so a catalogue edit that the demo scenarios no longer match fails loudly, and the tests
run it on every row they generate.
"""

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from analysis.demo_xpath import Context, Unsupported, evaluate, holds, parse, to_string
from catalogue.model import FORM_METADATA, FormSpec, Question
from xlsforms.lookup import Lookup

ENVELOPE_KEYS = frozenset(
    {
        "_id",
        "formhub/uuid",
        "__version__",
        "meta/instanceID",
        "meta/rootUuid",
        "meta/deprecatedID",
        "meta/instanceName",
        "_xform_id_string",
        "_uuid",
        "_attachments",
        "_status",
        "_geolocation",
        "_submission_time",
        "_validation_status",
        "_submitted_by",
        "_tags",
        "_notes",
    }
)
"""What Kobo adds around the answers (kobo-api.md §4)."""

METADATA = {name: kind for kind, name in FORM_METADATA}
_INTEGER = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_SERVER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
CONTAINERS = ("group", "repeat")
FILE_TYPES = ("file", "image", "audio")


@dataclass(frozen=True)
class Slot:
    """A question where a submission keeps it: its path, the relevance it inherits and the repeat it sits in."""

    path: str
    question: Question
    relevance: tuple[str, ...]
    """The question's own `relevant` and its enclosing groups', outermost first."""
    repeat: str | None
    codes: frozenset[str] | None
    ancestors: dict[str, dict[str, str]]
    """For selects from a dimension: value code → {ancestor dimension: its code}, the media CSV's columns."""
    labels: dict[str, str]
    """Choice code → French label, for jr:choice-name."""


class FormChecker:
    """Judges submissions of one form; build once per form, call `problems(row)` per submission."""

    def __init__(self, lookup: Lookup, form: FormSpec) -> None:
        self.form = form
        self.slots: dict[str, Slot] = {}
        self.repeats: dict[str, Slot] = {}
        self._walk(lookup, form.questions, (), (), None)
        if form.instance_name:
            parse(form.instance_name)

    def _walk(
        self,
        lookup: Lookup,
        questions: list[Question],
        prefix: tuple[str, ...],
        relevance: tuple[str, ...],
        repeat: str | None,
    ) -> None:
        for question in questions:
            path = (*prefix, question.name)
            chain = (*relevance, question.relevant) if question.relevant else relevance
            for expression in (question.relevant, question.constraint, question.calculation, question.choice_filter):
                if expression:
                    parse(expression)  # refuse an unsupported expression now, not on some row later
            codes = lookup.codes(self.form, question)
            dimension = lookup.source_dimension(question)
            ancestors: dict[str, dict[str, str]] = {}
            labels: dict[str, str] = {}
            if dimension is not None:
                for row in lookup.value_rows(dimension):
                    ancestors[row.code] = {"name": row.code, **row.ancestors}
                    labels[row.code] = row.value.label.fr
            elif question.choices:
                choice_list = lookup.choice_list(self.form, question.choices)
                labels = {choice.code: choice.label.fr for choice in choice_list.choices} if choice_list else {}
            slot = Slot(
                "/".join(path),
                question,
                chain,
                repeat,
                frozenset(codes) if codes is not None else None,
                ancestors,
                labels,
            )
            if question.type == "repeat":
                self.repeats[question.name] = slot
                self._walk(lookup, question.questions, path, chain, slot.path)
            elif question.type == "group":
                self._walk(lookup, question.questions, path, chain, repeat)
            else:
                self.slots[question.name] = slot

    # --- values ---------------------------------------------------------------------------------------------

    @staticmethod
    def typed(question_type: str, raw: Any) -> Any:
        """An answer as XPath sees it: numbers for integer/decimal, dates for date, text otherwise."""
        if raw in (None, ""):
            return ""
        if question_type in ("integer", "decimal"):
            try:
                return float(raw)
            except ValueError:
                return str(raw)
        if question_type in ("date", "today"):
            try:
                return dt.date.fromisoformat(str(raw))
            except ValueError:
                return str(raw)
        return str(raw)

    def _context(self, row: dict[str, Any], instance: dict[str, Any] | None, repeat: str | None) -> Context:
        def resolve(name: str) -> Any:
            if name in METADATA:
                return self.typed(METADATA[name], row.get(name, ""))
            slot = self.slots.get(name)
            if slot is None:
                raise Unsupported(f"${{{name}}} names no question of form '{self.form.id}'")
            if slot.repeat is None:
                return self.typed(slot.question.type, row.get(slot.path, ""))
            if instance is not None and slot.repeat == repeat:
                return self.typed(slot.question.type, instance.get(slot.path, ""))
            return [self.typed(slot.question.type, item.get(slot.path, "")) for item in row.get(slot.repeat, [])]

        def label(value: str, name: str) -> str:
            slot = self.slots.get(name)
            return slot.labels.get(value, "") if slot else ""

        return Context(resolve=resolve, today=device_today(row), choice_label=label)

    # --- checks ---------------------------------------------------------------------------------------------

    def problems(self, row: dict[str, Any]) -> list[str]:
        """Everything a phone or Kobo would not have produced in this row; empty when it is a valid submission."""
        found = self._envelope(row)
        allowed = ENVELOPE_KEYS | set(METADATA) | {slot.path for slot in self.slots.values() if slot.repeat is None}
        allowed |= {slot.path for slot in self.repeats.values()}
        found += [f"unknown key '{key}'" for key in row if key not in allowed]
        top = self._context(row, None, None)
        for repeat in self.repeats.values():
            present = repeat.path in row
            relevant = all(holds(expression, top) for expression in repeat.relevance)
            if present and not relevant:
                found.append(f"{repeat.path}: repeat present but not relevant")
            items = row.get(repeat.path, [])
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                found.append(f"{repeat.path}: a repeat must be a list of objects")
                continue
            children = {slot.path for slot in self.slots.values() if slot.repeat == repeat.path}
            for index, item in enumerate(items):
                found += [f"{repeat.path}[{index}]: unknown key '{key}'" for key in item if key not in children]
        for slot in self.slots.values():
            if slot.repeat is None:
                found += self._check(slot, row, top, f"{slot.path}")
                continue
            for index, item in enumerate(row.get(slot.repeat, []) or []):
                context = self._context(row, item, slot.repeat)
                found += self._check(slot, item, context, f"{slot.path}[{index}]")
        if self.form.instance_name and "meta/instanceName" in row:
            expected = to_string(evaluate(parse(self.form.instance_name), top))
            if row["meta/instanceName"] != expected:
                found.append(f"meta/instanceName is '{row['meta/instanceName']}', the form gives '{expected}'")
        return found

    def _check(self, slot: Slot, container: dict[str, Any], context: Context, where: str) -> list[str]:
        question = slot.question
        present = slot.path in container
        relevant = all(holds(expression, context) for expression in slot.relevance)
        if question.type == "note":
            return [f"{where}: a note has no value"] if present else []
        if question.type == "calculate":
            expected = to_string(evaluate(parse(question.calculation or ""), context)) if relevant else ""
            stored = container.get(slot.path, "")
            if expected in ("", "NaN") and present:
                return [f"{where}: calculation gives nothing, stored '{stored}'"]
            if expected not in ("", "NaN") and stored != expected:
                return [f"{where}: calculation gives '{expected}', stored '{stored}'"]
            return []
        if not relevant:
            return [f"{where}: answered but not relevant"] if present else []
        if not present:
            return [f"{where}: required but missing"] if question.required else []
        raw = container[slot.path]
        if not isinstance(raw, str) or raw == "":
            return [f"{where}: answers are non-empty strings, got {raw!r}"]
        problem = self._value_problem(slot, raw, context)
        if problem:
            return [f"{where}: {problem}"]
        if question.constraint:
            context.dot = self.typed(question.type, raw)
            if not holds(question.constraint, context):
                return [f"{where}: '{raw}' breaks the constraint {question.constraint}"]
        return []

    def _value_problem(self, slot: Slot, raw: str, context: Context) -> str | None:
        kind = slot.question.type
        if kind == "integer" and not _INTEGER.match(raw):
            return f"'{raw}' is not an integer"
        if kind == "decimal" and not _DECIMAL.match(raw):
            return f"'{raw}' is not a decimal"
        if kind == "date":
            try:
                dt.date.fromisoformat(raw)
            except ValueError:
                return f"'{raw}' is not a date"
        if kind in ("select_one", "select_one_from_file") and slot.codes is not None and raw not in slot.codes:
            return f"'{raw}' is not a choice"
        if kind == "select_multiple" and slot.codes is not None:
            items = raw.split(" ")
            if len(set(items)) != len(items) or not set(items) <= slot.codes:
                return f"'{raw}' is not a set of choices"
        if slot.question.choice_filter and kind != "select_multiple":
            columns = slot.ancestors.get(raw, {"name": raw})
            filtered = Context(context.resolve, today=context.today, column=lambda name: columns.get(name, ""))
            if not holds(slot.question.choice_filter, filtered):
                return f"'{raw}' is filtered out by {slot.question.choice_filter}"
        return None

    def _envelope(self, row: dict[str, Any]) -> list[str]:
        found: list[str] = []
        if not isinstance(row.get("_id"), int):
            found.append("_id must be an integer")
        root, instance = str(row.get("meta/rootUuid", "")), str(row.get("meta/instanceID", ""))
        if not root.startswith("uuid:") or not instance.startswith("uuid:"):
            found.append("meta/rootUuid and meta/instanceID must be uuid:…")
        if row.get("_uuid") != instance.removeprefix("uuid:"):
            found.append("_uuid must be the current instanceID without uuid:")
        if (root != instance) != ("meta/deprecatedID" in row):
            found.append("an edited submission (instanceID ≠ rootUuid) carries meta/deprecatedID, others do not")
        submitted = str(row.get("_submission_time", ""))
        if not _SERVER_TIME.match(submitted):
            found.append(f"_submission_time '{submitted}' is not YYYY-MM-DDTHH:MM:SS")
        else:
            received = dt.datetime.fromisoformat(submitted).replace(tzinfo=dt.UTC)
            started = dt.datetime.fromisoformat(str(row.get("start")))
            if received < started:
                found.append("the server received the submission before the phone opened it")
        return found


def device_today(row: dict[str, Any]) -> dt.date | None:
    """The phone's date when the form was last saved: what today() meant for its constraints."""
    for key in ("today", "end", "start"):
        value = row.get(key)
        if value:
            return dt.date.fromisoformat(str(value)[:10])
    return None
