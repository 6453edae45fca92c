"""Indicator values for reports, dashboards and API consumers: by period and disaggregation, JSON or CSV.

Partner tokens see only their own organisation's cells, of indicators whose form partners fill (not the complaints
that concern them); partner and viewer tokens never see a count of fewer people than the suppression threshold,
nor a cell they could recompute from others they can fetch (`analysis.values`: primary and secondary suppression,
one mask per indicator for every response, groupings of at most one dimension besides partner). A hidden cell
says `suppressed: true` and carries no value and no bound.
"""

import csv
import io
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from analysis.freshness import AsOf, as_of
from analysis.itt import IttLine, tracking_table
from analysis.values import (
    PARTNER_DIMENSION,
    SUPPRESSED_ROLES,
    CellValue,
    Suppression,
    ValuesProblem,
    partner_owned,
    periods_between,
    published_cells,
)
from api.auth import Forbidden, PrincipalDep
from api.deps import Limit, Offset, ProgrammeQuarter, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES, ApiError, NotFound
from api.schemas import FiguresPage
from catalogue.store import stored_catalogue
from sync.connections import demo_present

router = APIRouter(tags=["indicator values"], responses=ERROR_RESPONSES)


class ValuesPage(FiguresPage[CellValue]):
    as_of: AsOf
    """When these values were computed, from which sync run, and whether submissions changed since."""


class BadValuesRequest(ApiError):
    status_code = 422
    code = "invalid_request"


@router.get(
    "/indicators/{code}/values",
    response_model=ValuesPage,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_values(
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    offset: Offset = 0,
    limit: Limit = 500,
    from_: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}Q[1-4]$", description="First quarter.")] = None,
    to: Annotated[str | None, Query(pattern=r"^\d{4}Q[1-4]$", description="Last quarter.")] = None,
    by: Annotated[str, Query(description="Dimensions to split by, comma-separated (e.g. sex,region).")] = "",
    partner: Annotated[str | None, Query(description="Only this partner organisation's cells.")] = None,
    lop: Annotated[bool, Query(description="Include the life-of-programme value.")] = True,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> ValuesPage | Response:
    """Values of one indicator per period and split, with baseline, target, achievement % and status."""
    catalogue = stored_catalogue(session)
    indicator = next((i for i in catalogue.indicators if i.code == code), None)
    if indicator is None:
        raise NotFound(f"no indicator '{code}' in the current catalogue")
    dims = [d.strip() for d in by.split(",") if d.strip()]
    if principal.role == "partner":
        if partner not in (None, principal.organisation):
            raise Forbidden("a partner token sees only its own organisation's values")
        if not partner_owned(indicator, catalogue.forms):
            raise Forbidden(
                f"indicator '{code}' is measured on a form partners do not fill (form '{indicator.measure.form}'): "
                "what it records about a partner is not that partner's to read"
            )
        partner = principal.organisation
    where = {}
    if partner is not None:
        if PARTNER_DIMENSION not in indicator.disaggregations:
            raise Forbidden(f"indicator '{code}' is not split by partner organisation, so no partner figure exists")
        where[PARTNER_DIMENSION] = partner
        dims = sorted({*dims, PARTNER_DIMENSION})
    programme = catalogue.programme
    try:
        periods = periods_between(from_ or programme.first_period, to or programme.last_period, lop=lop)
        items = published_cells(
            session,
            indicator,
            periods=periods,
            by=dims,
            where=where,
            role=principal.role,
            threshold=settings.suppression_threshold,
        )
    except ValuesProblem as problem:
        raise BadValuesRequest(str(problem)) from None
    fresh = as_of(session)
    if format == "csv":
        computed = {"X-Sera-Computed-At": fresh.computed_at.isoformat()} if fresh.computed_at else {}
        synced = {"X-Sera-Sync-Run": str(fresh.sync_run)} if fresh.sync_run is not None else {}
        return Response(
            _csv(items, dims),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{code}-values.csv"', **computed, **synced},
        )
    return ValuesPage(items=items[offset : offset + limit], total=len(items), as_of=fresh, demo=demo_present(session))


def _csv(items: list[CellValue], dims: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["value", "numerator", "denominator", "n", "baseline", "target", "achievement", "status", "suppressed"]
    writer.writerow(["period", *dims, *columns])
    for item in items:
        row = asdict(item)
        writer.writerow(
            [item.period, *(item.dims.get(d, "") for d in dims), *("" if row[c] is None else row[c] for c in columns)]
        )
    return buffer.getvalue()


class IttOut(BaseModel):
    period: str
    items: list[IttLine]
    total: int
    as_of: AsOf
    demo: bool = False
    """True while `sera demo` synthetic submissions are loaded."""


@router.get("/itt", response_model=IttOut)
def get_itt(
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    period: ProgrammeQuarter,
) -> IttOut:
    """The indicator tracking table of a quarter (results-chain order, by sex where split); a partner token gets
    its own organisation's lines of the indicators split by partner."""
    catalogue = stored_catalogue(session)
    where = (
        {PARTNER_DIMENSION: principal.organisation} if principal.role == "partner" and principal.organisation else None
    )
    itt = tracking_table(
        session,
        catalogue,
        period,
        where=where,
        include=(lambda i: PARTNER_DIMENSION in i.disaggregations and partner_owned(i, catalogue.forms))
        if where
        else (lambda _i: True),
        post=Suppression(session, settings.suppression_threshold)
        if principal.role in SUPPRESSED_ROLES
        else (lambda _i, cells: cells),
    )
    return IttOut(
        period=period, items=itt.lines, total=len(itt.lines), as_of=as_of(session), demo=demo_present(session)
    )
