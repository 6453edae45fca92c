"""The data collection forms as the loaded catalogue defines them: spec, version, indicators fed, files."""

from collections import OrderedDict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import Limit, Offset, SessionDep
from api.errors import ERROR_RESPONSES, NotFound
from api.schemas import Page
from catalogue.model import Catalogue, Text
from catalogue.store import latest_load, stored_catalogue
from xlsforms.build import BuiltForm, build_form
from xlsforms.xlsx import xlsx_bytes

router = APIRouter(tags=["forms"], responses=ERROR_RESPONSES)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_BUILDS: "OrderedDict[tuple[str, str], tuple[Catalogue, BuiltForm]]" = OrderedDict()
"""Forms built from a catalogue; derived data keyed by the loaded content's hash (not the load's id, which another
database may give to another catalogue), so every replica computes the same."""


def _built(session: Session, form_id: str) -> tuple[Catalogue, BuiltForm]:
    load = latest_load(session)
    catalogue = stored_catalogue(session)
    key = (load.content_hash if load else "", form_id)
    if key not in _BUILDS:
        form = next((f for f in catalogue.forms if f.id == form_id), None)
        if form is None:
            raise NotFound(f"no form '{form_id}' in the current catalogue")
        _BUILDS[key] = (catalogue, build_form(catalogue, form))
        while len(_BUILDS) > 32:
            _BUILDS.popitem(last=False)
    return _BUILDS[key]


class FormSummary(BaseModel):
    form_id: str
    title: Text
    audience: str
    version: str
    indicators: list[str]
    media: list[str]


class FormDetail(FormSummary):
    spec: dict[str, Any]


def _summary(catalogue: Catalogue, built: BuiltForm) -> dict[str, Any]:
    form = next(f for f in catalogue.forms if f.id == built.form_id)
    return {
        "form_id": form.id,
        "title": form.title,
        "audience": form.audience.value,
        "version": built.version,
        "indicators": [i.code for i in catalogue.indicators if i.measure.form == form.id],
        "media": sorted(built.media),
    }


@router.get("/forms", response_model=Page[FormSummary])
def list_forms(session: SessionDep, offset: Offset = 0, limit: Limit = 100) -> Page[FormSummary]:
    """The forms, each with its current version and the indicators computed from it."""
    catalogue = stored_catalogue(session)
    ids = [form.id for form in catalogue.forms]
    items = [FormSummary(**_summary(*_built(session, form_id))) for form_id in ids[offset : offset + limit]]
    return Page(items=items, total=len(ids))


@router.get("/forms/{form_id}.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}})
def form_xlsx(form_id: str, session: SessionDep) -> Response:
    """The XLSForm workbook (French and Arabic), as uploaded to Kobo or ODK Central."""
    _catalogue, built = _built(session, form_id)
    return Response(
        xlsx_bytes(built.sheets),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{form_id}.xlsx"'},
    )


@router.get("/forms/{form_id}.xml", response_class=Response, responses={200: {"content": {"application/xml": {}}}})
def form_xml(form_id: str, session: SessionDep) -> Response:
    """The XForm, as pyxform converts it (ODK Validate runs at `sera forms build` and deploy)."""
    _catalogue, built = _built(session, form_id)
    return Response(built.xform, media_type="application/xml")


@router.get("/forms/{form_id}/media/{name}", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def form_media(form_id: str, name: str, session: SessionDep) -> Response:
    """A media file of the form (the CSV lookup lists phones use offline)."""
    _catalogue, built = _built(session, form_id)
    if name not in built.media:
        raise NotFound(f"form '{form_id}' has no media file '{name}'")
    return Response(built.media[name], media_type="text/csv; charset=utf-8")


@router.get("/forms/{form_id}", response_model=FormDetail)
def get_form(form_id: str, session: SessionDep) -> FormDetail:
    """One form: its spec as the catalogue writes it, its version and the indicators it feeds."""
    catalogue, built = _built(session, form_id)
    form = next(f for f in catalogue.forms if f.id == form_id)
    return FormDetail(**_summary(catalogue, built), spec=form.model_dump(mode="json", exclude_defaults=True))
