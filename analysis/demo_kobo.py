"""Dressing a generated submission the way Kobo's data API returns it (kobo-api.md §4).

Scenarios write answers by question name; this module puts them at their XPath (`person/sex`), repeats as lists
of dicts keyed by full paths, every answer a string, and adds what the phone and the server add: `start`/`end`
device times with their offset, `today`, `deviceid`, `username`, `_id`, `_uuid`, `meta/instanceID`,
`meta/rootUuid` (and `meta/deprecatedID` for an edited submission), `meta/instanceName`, `__version__`,
`_submission_time` (UTC, no offset, seconds), `_validation_status`, `_submitted_by`, `_attachments`.
"""

import datetime as dt
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from analysis.demo_world import SERVER_CLOSES, World, new_uuid
from analysis.demo_xpath import Context, Unsupported, evaluate, parse, to_string
from catalogue.model import FormSpec, walk_questions

Answer = str | list[dict[str, str]]
"""A question's answer (always text, as Kobo stores XML text), or a repeat's instances."""

MIMETYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "mp4": "video/mp4",
}
VALIDATION_LABELS = {
    "validation_status_approved": "Approved",
    "validation_status_not_approved": "Not Approved",
    "validation_status_on_hold": "On Hold",
}


@dataclass
class Draft:
    """One submission as a scenario tells it: answers by question name, and when and how it reached the server."""

    answers: dict[str, Answer]
    started: dt.datetime
    """Phone time when the form was opened (Morocco offset)."""
    ended: dt.datetime
    """Phone time of the last save; for an edited submission, the edit."""
    received: dt.datetime
    """Server time of the first version (UTC); an edit does not change it."""
    username: str
    deviceid: str
    activity: dt.date | None
    """The form's activity date, for the summary (None when consent was refused)."""
    edited: bool = False
    validation: str | None = None
    """A Kobo validation status uid, or None for none."""
    reviewer: str = "sera.officer"


def device_id(seed: int, username: str, *, web: bool = False) -> str:
    """The `deviceid` a person's phone (KoboCollect) or browser (Enketo) reports, the same on every submission."""
    rng = random.Random(f"{seed}/device/{username}")
    letters = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(16))
    return f"ee.kobotoolbox.org:{letters}" if web else f"collect:{letters}"


def upload_delay(rng: random.Random, offline: float = 0.05) -> dt.timedelta:
    """How long a phone keeps a finalised form: mostly minutes, often days, and weeks for `offline` of them."""
    draw = rng.random()
    if draw < 0.55:
        return dt.timedelta(minutes=rng.uniform(1, 90))
    if draw < 0.80:
        return dt.timedelta(days=rng.uniform(0.5, 3))
    if draw < 1 - offline:
        return dt.timedelta(days=rng.uniform(3, 20))
    return dt.timedelta(days=rng.uniform(21, 65))


def received_after(ended: dt.datetime, delay: dt.timedelta) -> dt.datetime:
    """Server time of an upload, never after the demo's clock stops nor before the phone saved the form."""
    return max(ended, min(ended + delay, SERVER_CLOSES)).astimezone(dt.UTC)


class KoboShaper:
    """Turns one form's drafts into Kobo rows; `_id`s come from the caller (unique over the whole server)."""

    def __init__(self, world: World, form: FormSpec, *, remote_id: str, version: str, base_url: str, seed: int) -> None:
        self.world = world
        self.form = form
        self.remote_id = remote_id
        self.version = version
        self.base_url = base_url
        self.formhub_uuid = new_uuid(random.Random(f"{seed}/formhub/{form.id}")).replace("-", "")
        self.paths: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        for path, question in walk_questions(form.questions):
            if question.type != "group":
                self.paths[question.name] = "/".join(path)
                self.kinds[question.name] = question.type
        self.instance_name = parse(form.instance_name) if form.instance_name else None
        self._labels: dict[tuple[str, str], str] = {}

    def path(self, name: str) -> str:
        try:
            return self.paths[name]
        except KeyError:
            raise Unsupported(f"form '{self.form.id}' has no question '{name}'") from None

    def row(self, draft: Draft, seq: int, rng: random.Random) -> dict[str, Any]:
        """The Kobo JSON of a draft; `rng` draws its uuids, so the same stream gives the same ids."""
        root = new_uuid(rng)
        current = new_uuid(rng) if draft.edited else root
        row: dict[str, Any] = {
            "_id": seq,
            "formhub/uuid": self.formhub_uuid,
            "start": draft.started.isoformat(timespec="milliseconds"),
            "end": draft.ended.isoformat(timespec="milliseconds"),
            "today": draft.ended.date().isoformat(),
            "deviceid": draft.deviceid,
            "username": draft.username,
        }
        attachments: list[dict[str, Any]] = []
        for name, answer in draft.answers.items():
            path = self.path(name)
            if isinstance(answer, list):
                row[path] = [{self.path(child): value for child, value in item.items()} for item in answer]
                continue
            row[path] = answer
            if self.kinds[name] in ("file", "image"):
                attachments.append(self._attachment(draft, seq, path, answer, root, rng))
        row["__version__"] = self.version
        row["meta/instanceID"] = f"uuid:{current}"
        row["meta/rootUuid"] = f"uuid:{root}"
        if draft.edited:
            row["meta/deprecatedID"] = f"uuid:{root}"
        if self.instance_name is not None:
            row["meta/instanceName"] = self._instance_name(draft)
        row["_xform_id_string"] = self.remote_id
        row["_uuid"] = current
        row["_attachments"] = attachments
        row["_status"] = "submitted_via_web"
        row["_geolocation"] = [None, None]
        row["_submission_time"] = draft.received.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        row["_validation_status"] = self._validation(draft)
        row["_submitted_by"] = draft.username
        return row

    def _attachment(
        self, draft: Draft, seq: int, path: str, basename: str, root: str, rng: random.Random
    ) -> dict[str, Any]:
        uid = "att" + "".join(
            rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(22)
        )
        return {
            "download_url": f"{self.base_url}/api/v2/assets/{self.remote_id}/data/{seq}/attachments/{uid}/",
            "filename": f"{draft.username}/attachments/{self.formhub_uuid}/{root}/{basename}",
            "media_file_basename": basename,
            "mimetype": MIMETYPES.get(basename.rsplit(".", 1)[-1], "application/octet-stream"),
            "question_xpath": path,
            "uid": uid,
            "is_deleted": False,
        }

    def _validation(self, draft: Draft) -> dict[str, Any]:
        if draft.validation is None:
            return {}
        checked = min(draft.received + dt.timedelta(days=9), SERVER_CLOSES)
        return {
            "timestamp": int(checked.timestamp()),
            "uid": draft.validation,
            "by_whom": draft.reviewer,
            "label": VALIDATION_LABELS[draft.validation],
        }

    def _instance_name(self, draft: Draft) -> str:
        def resolve(name: str) -> Any:
            return draft.answers.get(name, "")

        def label(code: str, name: str) -> str:
            key = (name, code)
            if key not in self._labels:
                self._labels[key] = self.world.label(self.form.id, name, code)
            return self._labels[key]

        assert self.instance_name is not None
        return to_string(evaluate(self.instance_name, Context(resolve=resolve, choice_label=label)))


class Scenario(ABC):
    """One form's story: its drafts in time order, the same for the same seed and count."""

    form_id: ClassVar[str]
    share: ClassVar[float]
    """Its part of the requested total (attendance takes the most), before capacities are applied."""
    late_after: ClassVar[int] = 7
    """Days between the activity and the server after which a submission counts as late in the summary."""

    def __init__(self, world: World, seed: int) -> None:
        self.world = world
        self.seed = seed
        self.form = world.form(self.form_id)
        self.rng = random.Random(f"{seed}/{self.form_id}")

    def capacity(self) -> int | None:
        """The most submissions this form can plausibly have (reports per grant and quarter); None for no limit."""
        return None

    def people(self) -> int | None:
        """How many distinct people the generated submissions describe, for forms that identify people."""
        return None

    @abstractmethod
    def drafts(self, count: int) -> Iterator[Draft]:
        """Exactly `count` drafts, in the order a server would have received most of them."""
