"""Loading the catalogue into SQL: idempotent, round-trips through YAML, keeps every version with its rationale."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from catalogue.export_yaml import write_yaml
from catalogue.model import Catalogue, Revision
from catalogue.store import RevisionRequired, load_catalogue, stored_catalogue
from catalogue.tables import (
    CatalogueLoad,
    DimensionValueRow,
    DimensionVersion,
    IndicatorTarget,
    IndicatorVersion,
    Period,
)
from catalogue.validation import read_catalogue
from sera.schema import metadata


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered, to compare whole databases."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(text(f'SELECT * FROM "{table.name}"')).all()
            tables[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return tables


def load(session: Session, catalogue: Catalogue) -> list[str]:
    report = load_catalogue(session, catalogue, source="test")
    session.commit()
    return report.changes


def with_target(catalogue: Catalogue, code: str, period: str, value: float, revision: Revision | None) -> Catalogue:
    indicators = []
    for indicator in catalogue.indicators:
        if indicator.code == code:
            targets = [
                t.model_copy(update={"value": value}) if t.period == period and not t.by else t
                for t in indicator.targets
            ]
            indicator = indicator.model_copy(update={"targets": targets, "revision": revision})
        indicators.append(indicator)
    return catalogue.model_copy(update={"indicators": indicators})


def test_first_load_writes_every_entity_once(session: Session, minimal_catalogue: Catalogue) -> None:
    changes = load(session, minimal_catalogue)
    assert changes == [
        "programme DEMO v1 (new)",
        "result OG v1 (new)",
        "result R1 v1 (new)",
        "result R1.1 v1 (new)",
        "dimension sex v1 (new)",
        "dimension region v1 (new)",
        "choice list yes_no v1 (new)",
        "indicator IND1 v1 (new)",
        "indicator IND2 v1 (new)",
        "form attendance v1 (new)",
    ]
    region = session.exec(select(DimensionVersion).where(DimensionVersion.code == "region")).one()
    values = session.exec(select(DimensionValueRow).where(DimensionValueRow.dimension_version_id == region.id)).all()
    assert sorted(v.code for v in values) == ["02", "09", "unknown"]
    assert [p.code for p in session.exec(select(Period).order_by(Period.position))] == [
        "2026Q1",
        "2026Q2",
        "2026Q3",
        "2026Q4",
        "2027Q1",
        "2027Q2",
        "LOP",
    ]
    targets = session.exec(select(IndicatorTarget).where(IndicatorTarget.split == "sex=female")).all()
    assert [(t.period_code, t.value, t.by) for t in targets] == [("LOP", 50.0, {"sex": "female"})]


def test_loading_the_same_catalogue_twice_changes_nothing(
    engine: Engine, session: Session, minimal_catalogue: Catalogue
) -> None:
    load(session, minimal_catalogue)
    before = snapshot(engine)
    assert load(session, minimal_catalogue) == []
    assert snapshot(engine) == before


def test_load_export_load_gives_an_identical_database(
    engine: Engine, session: Session, minimal_catalogue: Catalogue, tmp_path: Path
) -> None:
    load(session, minimal_catalogue)
    before = snapshot(engine)
    exported = tmp_path / "exported.yaml"
    write_yaml(stored_catalogue(session), exported)
    again = read_catalogue(exported)
    assert again == minimal_catalogue
    assert load(session, again) == []
    assert snapshot(engine) == before


def test_a_changed_target_is_a_new_version_and_the_old_one_stays(
    session: Session, minimal_catalogue: Catalogue
) -> None:
    load(session, minimal_catalogue)
    revision = Revision(date=dt.date(2026, 7, 1), reason="adaptive_management", rationale="Cible relevée après T2.")
    assert load(session, with_target(minimal_catalogue, "IND1", "2026Q4", 35, revision)) == [
        "indicator IND1 v2 (changed)"
    ]
    versions = session.exec(
        select(IndicatorVersion).where(IndicatorVersion.code == "IND1").order_by(IndicatorVersion.version)
    ).all()
    assert [(v.version, v.current, v.revision_reason) for v in versions] == [
        (1, False, "initial"),
        (2, True, "adaptive_management"),
    ]
    q4 = {
        v.version: session.exec(
            select(IndicatorTarget.value).where(
                IndicatorTarget.indicator_version_id == v.id, IndicatorTarget.period_code == "2026Q4"
            )
        ).one()
        for v in versions
    }
    assert q4 == {1: 30.0, 2: 35.0}
    exported = stored_catalogue(session)
    ind1 = next(i for i in exported.indicators if i.code == "IND1")
    assert ind1.revision == revision


def test_a_change_without_a_new_revision_is_refused_and_nothing_is_written(
    engine: Engine, session: Session, minimal_catalogue: Catalogue
) -> None:
    load(session, minimal_catalogue)
    before = snapshot(engine)
    with pytest.raises(RevisionRequired) as refused:
        load_catalogue(session, with_target(minimal_catalogue, "IND1", "2026Q4", 35, None), source="test")
    session.rollback()
    assert refused.value.changes == ["indicator 'IND1' (stored as version 1 of 2026-03-16)"]
    assert snapshot(engine) == before


def test_a_removed_indicator_is_retired_not_deleted(session: Session, minimal_catalogue: Catalogue) -> None:
    load(session, minimal_catalogue)
    revision = Revision(
        date=dt.date(2026, 9, 1), reason="donor_requirement", rationale="Indicateur retiré à la demande de l'AFD."
    )
    smaller = minimal_catalogue.model_copy(
        update={"indicators": minimal_catalogue.indicators[:1], "revision": revision}
    )
    assert load(session, smaller) == ["indicator IND2 v2 (retired)"]
    rows = session.exec(
        select(IndicatorVersion).where(IndicatorVersion.code == "IND2").order_by(IndicatorVersion.version)
    ).all()
    assert [(r.version, r.current, r.retired) for r in rows] == [(1, False, False), (2, True, True)]
    assert [i.code for i in stored_catalogue(session).indicators] == ["IND1"]
    assert len(session.exec(select(CatalogueLoad)).all()) == 2
