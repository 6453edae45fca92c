"""What the phones send: answers that fit the shipped forms, people the test counts by hand, and the two
platforms' shapes (Kobo's flat XPaths, ODK Central's nested groups and OpenRosa XML).

Answers are keyed by question name, as the catalogue writes them. The attendance sheets describe people the test
chose (so that it can count them by hand); the other forms take the demo scenarios' answers, which are checked
against the forms by the demo's own tests (repeats included).
"""

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from analysis.demo import SCENARIOS
from analysis.demo_world import World
from catalogue.model import Catalogue, FormSpec, walk_questions

Answers = dict[str, Any]
"""Question name → value (a string), or → list of such dicts for a repeat."""

OTHER_FORMS = ("commune_support", "feedback", "grant_report", "training_test")


@dataclass(frozen=True)
class Person:
    """One beneficiary as the attendance sheet identifies them; the key the test dedupes on is `ident`."""

    first_name: str
    last_name: str
    sex: str
    birth_year: int
    phone: str

    @property
    def ident(self) -> tuple[str, str, int, str]:
        return (self.first_name, self.last_name, self.birth_year, self.phone)


_phones = itertools.count(10_000_001)


def person(first_name: str, sex: str) -> Person:
    """A person with a unique surname and phone (so only identical sheets are the same person)."""
    number = next(_phones)
    return Person(first_name, f"Test{number}", sex, 1990, f"06{number:08d}")


@dataclass
class FormShapes:
    """A form's question paths, to render answers for Kobo (flat) and ODK Central (nested)."""

    form: FormSpec
    paths: dict[str, tuple[str, ...]] = field(init=False)
    repeats: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.paths = {q.name: path for path, q in walk_questions(self.form.questions) if q.type != "group"}
        self.repeats = {q.name for _path, q in walk_questions(self.form.questions) if q.type == "repeat"}

    def kobo(self, answers: Answers) -> dict[str, Any]:
        """Kobo's data row answers: `group/question`, a repeat as a list of dicts keyed by full paths."""
        row: dict[str, Any] = {}
        for name, value in answers.items():
            path = "/".join(self.paths[name])
            if isinstance(value, list):
                row[path] = [{"/".join(self.paths[child]): v for child, v in item.items()} for item in value]
            else:
                row[path] = value
        return row

    def nested(self, answers: Answers) -> dict[str, Any]:
        """ODK Central's shape: groups as objects, a repeat as a list of objects relative to the repeat."""
        root: dict[str, Any] = {}
        for name, value in answers.items():
            path = self.paths[name]
            if isinstance(value, list):
                items = []
                for item in value:
                    child_root: dict[str, Any] = {}
                    for child, v in item.items():
                        _place(child_root, self.paths[child][len(path) :], v)
                    items.append(child_root)
                _place(root, path, items)
            else:
                _place(root, path, value)
        return root

    def xml_body(self, answers: Answers) -> str:
        """The answers as the elements of an instance document (groups nested, one element per repeat item)."""
        return _xml_children(self.nested(answers))

    def xml(
        self, answers: Answers, *, xml_form_id: str, version: str, instance_id: str, deprecated_id: str = ""
    ) -> bytes:
        """The instance document Collect posts (OpenRosa): `meta/instanceID`, and `meta/deprecatedID` for an edit."""
        body = self.xml_body(answers)
        deprecated = f"<deprecatedID>{escape(deprecated_id)}</deprecatedID>" if deprecated_id else ""
        return (
            f'<?xml version="1.0"?><data xmlns:jr="http://openrosa.org/javarosa" '
            f'xmlns:orx="http://openrosa.org/xforms" id="{escape(xml_form_id)}" version="{escape(version)}">'
            f"{body}<meta><instanceID>{escape(instance_id)}</instanceID>{deprecated}</meta></data>"
        ).encode()


def _place(root: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = root
    for group in path[:-1]:
        target = target.setdefault(group, {})
    target[path[-1]] = value


def _xml_children(node: Mapping[str, Any]) -> str:
    parts = []
    for name, value in node.items():
        if isinstance(value, list):
            parts += [f"<{name}>{_xml_children(item)}</{name}>" for item in value]
        elif isinstance(value, dict):
            parts.append(f"<{name}>{_xml_children(value)}</{name}>")
        else:
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
    return "".join(parts)


class Phones:
    """Answers for every shipped form: attendance sheets for chosen people, demo answers for the others."""

    def __init__(self, catalogue: Catalogue, seed: int = 9) -> None:
        self.world = World(catalogue)
        self.shapes = {form.id: FormShapes(form) for form in catalogue.forms}
        self.scenarios = {kind.form_id: kind(self.world, seed) for kind in SCENARIOS}
        self._templates: dict[str, Iterator[Answers]] = {}
        self._drafts = {form_id: self._draft_stream(form_id) for form_id in OTHER_FORMS}

    def _draft_stream(self, form_id: str) -> Iterator[Answers]:
        """The scenario's answers, those with a repeat first (repeats are what breaks sync most often)."""
        drafts = [d.answers for d in self.scenarios[form_id].drafts(60)]
        with_repeat = [a for a in drafts if any(isinstance(v, list) and v for v in a.values())]
        return itertools.cycle(with_repeat + [a for a in drafts if a not in with_repeat])

    def other(self, form_id: str) -> Answers:
        """A filled form of one of the other four forms (a deep enough copy to edit)."""
        answers = next(self._drafts[form_id])
        return {k: [dict(i) for i in v] if isinstance(v, list) else v for k, v in answers.items()}

    def partners(self) -> list[str]:
        """Partners that have a grant, in catalogue order."""
        return list(dict.fromkeys(g.partner for g in self.world.grants))

    def _template(self, grant: str) -> Answers:
        """A demo attendance sheet of this grant: its activity type and services fit the grant."""
        if grant not in self._templates:
            drafts = (d.answers for d in self.scenarios["attendance"].drafts(1500))
            self._templates[grant] = itertools.cycle([a for a in drafts if a.get("grant") == grant][:20])
        return dict(next(self._templates[grant]))

    def attendance(self, who: Person, partner: str, day: dt.date) -> Answers:
        """One sheet: `who` came to an activity of `partner`'s grant on `day` (consent given).

        Everyone of a partner has the same profile, age band and region, so the finer cells the catalogue stores
        are no smaller than the partner × sex cells the test checks (else complementary suppression may rightly
        hide them all)."""
        grant = next(g for g in self.world.grants if g.partner == partner)
        answers = self._template(grant.code)
        for key in ("province", "commune", "referral_service", "referral_outcome", "comments"):
            answers.pop(key, None)
        age = day.year - who.birth_year
        answers.update(
            consent="yes",
            activity_date=day.isoformat(),
            partner=partner,
            grant=grant.code,
            region=grant.region,
            profile="tcn",
            first_name=who.first_name,
            last_name=who.last_name,
            birth_year=str(who.birth_year),
            phone=who.phone,
            sex=who.sex,
            age=str(age),
            age_band="y35_59" if age >= 35 else "y25_34",
            referred="no",
        )
        return answers

    @staticmethod
    def refused() -> Answers:
        """A sheet where the person declined: only the consent answer is recorded."""
        return {"consent": "no"}
