"""Raw submissions: the SERA officer reads them all; a partner reads its own, without identifying answers."""

from typing import Annotated

from fastapi import APIRouter, Query

from analysis.submissions import SubmissionOut, submissions_page
from api.auth import Forbidden, PrincipalDep
from api.deps import Limit, Offset, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas import Page
from catalogue.store import stored_catalogue

router = APIRouter(tags=["submissions"], responses=ERROR_RESPONSES)


@router.get("/submissions", response_model=Page[SubmissionOut])
def get_submissions(
    session: SessionDep,
    principal: PrincipalDep,
    connection: Annotated[str | None, Query(description="Connection name.")] = None,
    form: Annotated[str | None, Query(description="Catalogue form id.")] = None,
    include_deleted: Annotated[bool, Query(description="Include tombstoned submissions.")] = False,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[SubmissionOut]:
    """Submissions as the server gave them (admin); a partner token gets its organisation's, less the `pii` and
    `sensitive` answers. Other roles work with aggregated values only."""
    if principal.role not in ("admin", "partner"):
        raise Forbidden(f"the {principal.role} role reads aggregated values, not raw submissions")
    organisation = principal.organisation if principal.role == "partner" else None
    items, total = submissions_page(
        session,
        stored_catalogue(session),
        connection=connection,
        form=form,
        include_deleted=include_deleted,
        organisation=organisation,
        offset=offset,
        limit=limit,
    )
    return Page(items=items, total=total)
