"""Golden tests of the data quality findings: each check fires on a bad case and stays silent on a good one,
on SQLite and PostgreSQL, with submissions shaped as Kobo and ODK Central send them.

The test catalogue is the engine tests' one plus a partner report form (`grant_report`: grants with a calendar,
bounded counts, totals next to their parts, an amount in euros) and a training test identified by session code.
"""

import copy
import datetime as dt
from typing import Any

import pytest
from sqlmodel import Session, col, select

from analysis.quality import CHECKS, Finding, quality_findings, quality_summary
from analysis.tables import Fact
from catalogue.model import Catalogue
from catalogue.validation import consistency_problems
from sync.normalize import kobo_record
from sync.store import upsert_records
from sync.tables import RemoteForm, Submission
from tests.analysis.builders import Store, attend, catalogue_data
from tests.analysis.conftest import run


def _t(fr: str) -> dict[str, str]:
    return {"fr": fr, "ar": "نص"}


def _q(name: str, qtype: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": qtype, "label": _t(name), **extra}


BOUND = _t("Hors limites")

GRANT_REPORT: dict[str, Any] = {
    "id": "grant_report",
    "title": _t("Rapport de subvention"),
    "audience": "partner",
    "activity_date": "reference_date",
    "organisation": "partner",
    "dimensions": {"partner": "partner", "grant": "grant"},
    "choice_lists": [
        {
            "name": "report_types",
            "choices": [{"code": c, "label": _t(c)} for c in ("start", "quarterly", "final")],
        }
    ],
    "questions": [
        _q("partner", "select_one", choices="dimension:partner"),
        _q("grant", "select_one", choices="dimension:grant"),
        _q("report_type", "select_one", choices="report_types"),
        _q("reference_date", "date", required=True),
        _q(
            "agreement_date",
            "date",
            constraint=". <= today() and . >= date('2026-01-01')",
            constraint_message=BOUND,
        ),
        _q("sessions_count", "integer", constraint=". >= 0 and . <= 50", constraint_message=BOUND),
        _q("volunteers", "integer"),
        _q("budget_eur", "decimal", constraint=". >= 0", constraint_message=BOUND),
        _q("leaders_female", "integer", constraint=". >= 0 and . <= 50", constraint_message=BOUND),
        _q("leaders_male", "integer", constraint=". >= 0 and . <= 50", constraint_message=BOUND),
        {"name": "leaders_total", "type": "calculate", "calculation": "${leaders_female} + ${leaders_male}"},
        {
            "name": "activities",
            "type": "group",
            "label": _t("Activités"),
            "questions": [
                {
                    "name": "reached",
                    "type": "repeat",
                    "label": _t("Touchés"),
                    "questions": [
                        _q("reached_count", "integer", constraint=". >= 1 and . <= 5000", constraint_message=BOUND)
                    ],
                }
            ],
        },
        {"name": "reached_total", "type": "calculate", "calculation": "sum(${reached_count})"},
    ],
}

TRAINING_TEST: dict[str, Any] = {
    "id": "training_test",
    "title": _t("Test de formation"),
    "audience": "trainer",
    "activity_date": "training_date",
    "person_identifiers": ["full_name"],
    "choice_lists": [{"name": "test_moments", "choices": [{"code": c, "label": _t(c)} for c in ("pre", "post")]}],
    "questions": [
        _q("training_date", "date"),
        _q("session_code", "text"),
        _q("test_moment", "select_one", choices="test_moments"),
        _q("full_name", "text", pii=True),
    ],
}


def quality_catalogue() -> Catalogue:
    data = copy.deepcopy(catalogue_data())
    grants = next(d for d in data["dimensions"] if d["code"] == "grant")
    for value in grants["values"]:
        if value["code"] == "G1":
            value["attributes"] = {"start": "2026-01-10", "end": "2026-12-31", "amount_eur": 1000}
    data["forms"] += [GRANT_REPORT, TRAINING_TEST]
    catalogue = Catalogue.model_validate(data)
    problems = consistency_problems(catalogue)
    assert not problems, problems
    return catalogue


@pytest.fixture(scope="module")
def qcat() -> Catalogue:
    return quality_catalogue()


@pytest.fixture
def qstore(session: Session, qcat: Catalogue) -> Store:
    return Store(session, qcat)


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def grant_report(
    store: Store,
    grant: str,
    reference: str | None,
    *,
    report_type: str = "quarterly",
    submitted: str = "2026-07-10T09:00:00",
    repeats: list[int] | None = None,
    platform: str = "kobo",
    **answers: Any,
) -> str:
    values = {
        "partner": "P1" if grant == "G1" else "P2",
        "grant": grant,
        "report_type": report_type,
        "reference_date": reference,
        **answers,
    }
    rows = {"reached": [{"reached_count": n} for n in repeats]} if repeats is not None else None
    return store.put("grant_report", values, rows, submitted=submitted, platform=platform)


def remote_id(session: Session, root: str) -> str:
    return session.exec(select(Submission.remote_id).where(Submission.root_id == root)).one()


def of(findings: list[Finding], check: str, **where: Any) -> list[Finding]:
    return [f for f in findings if f.check == check and all(getattr(f, k) == v for k, v in where.items())]


def findings_of(session: Session, catalogue: Catalogue, period: str, **kw: Any) -> list[Finding]:
    run(session, catalogue)
    return quality_findings(session, catalogue, period, **kw)


# --- missing_report ----------------------------------------------------------------------------------------


def test_a_missing_quarterly_report_is_an_error_once_its_deadline_has_passed(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    grant_report(qstore, "G1", "2026-03-31", submitted="2026-04-20T09:00:00")
    grant_report(qstore, "G1", "2026-05-02", report_type="start", submitted="2026-05-03T09:00:00")
    # Q1 was reported on time: nothing to say.
    assert of(findings_of(session, qcat, "2026Q1", now=at("2026-08-15")), "missing_report") == []
    # Q2 has only a start sheet, which is no quarterly report: missing once 30 July has passed.
    [missing] = of(quality_findings(session, qcat, "2026Q2", now=at("2026-08-15")), "missing_report")
    assert (missing.severity, missing.partner, missing.subject, missing.form_id) == (
        "error",
        "P1",
        "grant G1",
        "grant_report",
    )
    assert missing.value == 16  # days past the deadline of 30/07/2026
    assert missing.submissions == ()
    assert "30/07/2026" in missing.message.fr and "G1" in missing.message.ar
    # Before the deadline the report is not yet late.
    assert of(quality_findings(session, qcat, "2026Q2", now=at("2026-07-20")), "missing_report") == []
    # After the grant's end (31/12/2026) nothing is owed.
    assert of(quality_findings(session, qcat, "2027Q1", now=at("2027-06-01")), "missing_report") == []
    # The final report of the last quarter counts.
    grant_report(qstore, "G1", "2026-12-31", report_type="final", submitted="2027-01-15T09:00:00")
    assert of(findings_of(session, qcat, "2026Q4", now=at("2027-03-01")), "missing_report") == []


def test_a_grant_without_dates_owes_reports_from_its_first_activity(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    # G2 has no start date: nothing is owed before anything of it exists.
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "missing_report", subject="grant G2") == []
    attend(qstore, "Omar Idrissi", "2026-05-12", grant="G2", submitted="2026-05-13T08:00:00")
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "missing_report", subject="grant G2")
    assert [(f.partner, f.period) for f in found] == [("P2", "2026Q2")]
    assert (
        of(quality_findings(session, qcat, "2026Q1", now=at("2026-09-01")), "missing_report", subject="grant G2") == []
    )
    grant_report(qstore, "G2", "2026-06-30", submitted="2026-07-05T09:00:00")
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "missing_report", subject="grant G2") == []


def test_the_clock_is_never_before_the_last_report_received(session: Session, qcat: Catalogue, qstore: Store) -> None:
    """Demo data is dated in the future: a report received in 2027 means it is 2027 at least."""
    grant_report(qstore, "G1", "2026-03-31", submitted="2027-02-01T09:00:00")
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-05-01")), "missing_report")
    assert [f.subject for f in found] == ["grant G1"]


# --- late_submission ---------------------------------------------------------------------------------------


def test_late_submissions_are_warnings_and_after_the_deadline_a_restatement_note(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    on_time = attend(qstore, "Aïcha Benali", "2026-04-10", submitted="2026-04-12T08:00:00")
    late = attend(qstore, "Sara K", "2026-04-01", submitted="2026-05-20T08:00:00")
    very_late = attend(qstore, "Omar Idrissi", "2026-06-20", submitted="2026-08-05T08:00:00", platform="odk")
    report = grant_report(qstore, "G1", "2026-06-30", submitted="2026-08-20T09:00:00")
    found = findings_of(session, qcat, "2026Q2", now=at("2026-09-01"))
    [field] = of(found, "late_submission", form_id="attendance", severity="warning")
    assert (field.partner, field.subject, field.value) == ("P1", "form attendance", 49)  # the worst delay
    assert set(field.submissions) == {remote_id(session, late), remote_id(session, very_late)}
    assert remote_id(session, on_time) not in field.submissions
    [note] = of(found, "late_submission", form_id="attendance", severity="info")
    assert note.submissions == (remote_id(session, very_late),)  # received after 30/07, the quarter's deadline
    assert "30/07/2026" in note.message.fr
    # A partner report is judged on its own, and its late arrival is said once.
    [report_late] = of(found, "late_submission", form_id="grant_report")
    assert (report_late.severity, report_late.subject, report_late.value) == ("warning", "grant G1", 51)
    assert report_late.submissions == (remote_id(session, report),)
    assert "30/07/2026" in report_late.message.fr


def test_an_edit_after_the_deadline_is_a_restatement_note_and_a_review_is_not(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    edited = attend(qstore, "Sara K", "2026-06-20", submitted="2026-06-22T08:00:00", platform="odk")
    reviewed = attend(qstore, "Omar Idrissi", "2026-06-20", submitted="2026-06-22T08:00:00", platform="odk")
    for root, instance in ((edited, "uuid:second-version"), (reviewed, reviewed)):
        row = session.exec(select(Submission).where(Submission.root_id == root)).one()
        row.instance_id, row.updated_at = instance, at("2026-08-10")  # ODK moves updatedAt on a review too
    session.commit()
    [note] = of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "late_submission")
    assert (note.severity, note.submissions) == ("info", (remote_id(session, edited),))


def test_submissions_on_time_give_no_timing_finding(session: Session, qcat: Catalogue, qstore: Store) -> None:
    attend(qstore, "Aïcha Benali", "2026-04-10", submitted="2026-04-12T08:00:00")
    grant_report(qstore, "G1", "2026-06-30", submitted="2026-07-15T09:00:00")
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "late_submission") == []


def test_deleted_submissions_are_never_reported(session: Session, qcat: Catalogue, qstore: Store) -> None:
    late = attend(qstore, "Sara K", "2026-04-01", submitted="2026-05-20T08:00:00")
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "late_submission")
    qstore.delete("attendance", late)
    assert findings_of(session, qcat, "2026Q2", now=at("2026-05-25")) == []


# --- duplicate_person --------------------------------------------------------------------------------------


def test_the_same_person_twice_in_one_activity_is_a_duplicate(session: Session, qcat: Catalogue, qstore: Store) -> None:
    first = attend(qstore, "Aïcha Benali", "2026-04-10", submitted="2026-04-11T08:00:00")
    second = attend(qstore, "  aicha BENALI ", "2026-04-10", submitted="2026-04-11T08:05:00", platform="odk")
    attend(qstore, "Aïcha Benali", "2026-04-17", submitted="2026-04-18T08:00:00")  # another day: fine
    attend(qstore, "Aïcha Benali", "2026-04-10", grant="G2", submitted="2026-04-11T09:00:00")  # another activity
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-05-01")), "duplicate_person")
    [duplicate] = found
    assert (duplicate.severity, duplicate.partner, duplicate.value) == ("warning", "P1", 1)  # one sheet too many
    assert duplicate.subject == "activity_date=2026-04-10; grant=G1"
    assert set(duplicate.submissions) == {remote_id(session, first), remote_id(session, second)}
    keys = set(session.exec(select(Fact.person_key).where(col(Fact.person_key).is_not(None))).all())
    text = repr(duplicate)
    assert not any(key in text for key in keys if key)
    assert "Aïcha" not in text and "aicha" not in text.lower()


def test_a_training_test_duplicate_needs_the_same_session_and_moment(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    def test(name: str, day: str, code: str, moment: str) -> str:
        answers = {"training_date": day, "session_code": code, "test_moment": moment, "full_name": name}
        return qstore.put("training_test", answers, submitted=f"{day}T17:00:00")

    test("Nadia", "2026-05-04", "SM-2026-01", "pre")
    test("Nadia", "2026-05-06", "SM-2026-01", "post")  # pre and post: expected
    test("Nadia", "2026-05-18", "SM-2026-02", "pre")  # another session: expected
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-06-01")), "duplicate_person") == []
    again = test("Nadia", "2026-05-06", "SM-2026-01", "post")
    [duplicate] = of(findings_of(session, qcat, "2026Q2", now=at("2026-06-01")), "duplicate_person")
    assert duplicate.subject == "session_code=SM-2026-01; test_moment=post"
    assert remote_id(session, again) in duplicate.submissions and len(duplicate.submissions) == 2
    assert duplicate.partner is None


# --- out_of_range ------------------------------------------------------------------------------------------


def test_values_outside_the_forms_bounds_are_errors(session: Session, qcat: Catalogue, qstore: Store) -> None:
    good = grant_report(
        qstore,
        "G1",
        "2026-06-30",
        sessions_count=12,
        volunteers=3,
        budget_eur=800,
        agreement_date="2026-02-01",
        repeats=[4, 6],
    )
    bad = grant_report(
        qstore,
        "G1",
        "2026-06-30",
        sessions_count=80,
        volunteers=-2,
        budget_eur=5000,
        agreement_date="2026-12-01",
        repeats=[0, 6],
        platform="odk",
    )
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-09-01")), "out_of_range")
    by_subject = {(f.subject, f.severity): f for f in found}
    assert set(by_subject) == {
        ("question sessions_count", "error"),
        ("question volunteers", "error"),
        ("question budget_eur", "warning"),
        ("question agreement_date", "error"),
        ("question reached_count", "error"),
    }
    assert by_subject[("question sessions_count", "error")].value == 80
    assert by_subject[("question volunteers", "error")].value == -2  # a count is never negative
    assert by_subject[("question budget_eur", "warning")].value == 5000  # above the grant's 1 000 EUR
    assert by_subject[("question reached_count", "error")].value == 0
    assert "01/12/2026" in by_subject[("question agreement_date", "error")].message.fr  # after it was sent
    bad_id, good_id = remote_id(session, bad), remote_id(session, good)
    assert all(f.submissions == (bad_id,) and f.partner == "P1" for f in found)
    assert all(good_id not in f.submissions for f in found)


def test_activity_dates_missing_or_outside_the_programme_are_reported_when_received(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    outside = attend(qstore, "Sara K", "2025-11-20", submitted="2026-04-03T08:00:00")
    undated = grant_report(qstore, "G1", None, submitted="2026-04-05T09:00:00")
    qstore.put("attendance", {"consent": "no", "partner": "P1"}, submitted="2026-04-06T08:00:00")  # nothing asked
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-05-01")), "out_of_range")
    assert sorted((f.form_id, f.subject, f.submissions) for f in found) == [
        ("attendance", "question activity_date", (remote_id(session, outside),)),
        ("grant_report", "question reference_date", (remote_id(session, undated),)),
    ]
    assert "20/11/2025" in next(f for f in found if f.form_id == "attendance").message.fr
    assert of(quality_findings(session, qcat, "2026Q1", now=at("2026-05-01")), "out_of_range") == []


# --- outlier -----------------------------------------------------------------------------------------------


def test_an_outlier_is_far_from_the_forms_other_answers_of_the_year(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    for i in range(12):
        grant_report(qstore, "G2", "2026-03-31", sessions_count=10 + i % 5, submitted="2026-04-10T09:00:00")
    for i in range(10):
        grant_report(qstore, "G2", "2026-06-30", sessions_count=11 + i % 4, submitted="2026-07-10T09:00:00")
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-08-01")), "outlier") == []
    odd = grant_report(qstore, "G1", "2026-06-30", sessions_count=45, submitted="2026-07-10T09:00:00")
    [outlier] = of(findings_of(session, qcat, "2026Q2", now=at("2026-08-01")), "outlier")
    assert (outlier.severity, outlier.partner, outlier.subject, outlier.value) == (
        "warning",
        "P1",
        "question sessions_count",
        45,
    )
    assert outlier.submissions == (remote_id(session, odd),)
    assert "sur 23" in outlier.message.fr  # the quarter and the one before


def test_too_few_answers_give_no_outlier(session: Session, qcat: Catalogue, qstore: Store) -> None:
    for i in range(5):
        grant_report(qstore, "G2", "2026-06-30", sessions_count=10 + i, submitted="2026-07-10T09:00:00")
    grant_report(qstore, "G2", "2026-06-30", sessions_count=49, submitted="2026-07-10T09:00:00")
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-08-01")), "outlier") == []


# --- disaggregation_total ----------------------------------------------------------------------------------


def test_totals_that_are_not_the_sum_of_their_parts(session: Session, qcat: Catalogue, qstore: Store) -> None:
    grant_report(qstore, "G1", "2026-06-30", leaders_female=2, leaders_male=1, leaders_total=3, repeats=[4, 6])
    store_total = {"leaders_female": 2, "leaders_male": 2, "leaders_total": 5, "reached_total": 8}
    bad = grant_report(qstore, "G1", "2026-06-30", repeats=[4, 6], platform="odk", **store_total)
    ok = grant_report(qstore, "G1", "2026-06-30", repeats=[3, 3], reached_total=6)
    found = of(findings_of(session, qcat, "2026Q2", now=at("2026-08-01")), "disaggregation_total")
    by_subject = {f.subject: f for f in found}
    assert set(by_subject) == {"question leaders_total", "question reached_total"}
    assert by_subject["question leaders_total"].value == 1
    assert by_subject["question reached_total"].value == -2
    assert all(f.severity == "error" and f.submissions == (remote_id(session, bad),) for f in found)
    assert all(remote_id(session, ok) not in f.submissions for f in found)


# --- unknown_form_version ----------------------------------------------------------------------------------


def _deployed(session: Session, store: Store, platform: str, version: str, kobo_uid: str | None = None) -> None:
    remote = session.get(RemoteForm, store.remote[(platform, "grant_report")])
    assert remote is not None
    remote.deployed_version = version
    remote.remote_state = {"versions": {kobo_uid: version}} if kobo_uid else {}
    session.add(remote)
    session.commit()


def test_a_version_sera_did_not_build_is_an_error(session: Session, qcat: Catalogue, qstore: Store) -> None:
    kobo = grant_report(qstore, "G1", "2026-06-30", submitted="2026-07-10T09:00:00")  # __version__ v1
    odk = grant_report(qstore, "G1", "2026-06-30", submitted="2026-07-10T09:00:00", platform="odk")
    older = grant_report(qstore, "G1", "2026-06-30", submitted="2026-07-10T09:00:00", platform="odk")
    session.exec(select(Submission).where(Submission.root_id == older)).one().form_version = "20260101-0123456789"
    session.commit()
    # Forms linked by hand (never deployed by SERA): nothing to judge.
    assert of(findings_of(session, qcat, "2026Q2", now=at("2026-08-01")), "unknown_form_version") == []
    _deployed(session, qstore, "kobo", "20260301-abcdef0123", kobo_uid="vKoboUid")
    _deployed(session, qstore, "odk", "20260301-abcdef0123")
    [found] = of(quality_findings(session, qcat, "2026Q2", now=at("2026-08-01")), "unknown_form_version")
    assert set(found.submissions) == {remote_id(session, kobo), remote_id(session, odk)}
    assert (found.subject, found.severity, found.partner) == ("version v1", "error", "P1")
    # An earlier version in SERA's shape on ODK Central was published there by SERA: not reported.
    assert remote_id(session, older) not in found.submissions
    _deployed(session, qstore, "kobo", "20260301-abcdef0123", kobo_uid="v1")
    [found] = of(quality_findings(session, qcat, "2026Q2", now=at("2026-08-01")), "unknown_form_version")
    assert found.submissions == (remote_id(session, odk),)


def test_submissions_of_a_form_no_longer_in_the_catalogue_are_reported(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    from sync.connections import get_connection, link_form

    remote = link_form(session, get_connection(session, "kobo"), "old_survey", "kobo-old-survey")
    assert remote.id is not None
    row = {"_id": 990001, "meta/rootUuid": "uuid:old-1", "_submission_time": "2026-05-02T10:00:00", "q": "1"}
    upsert_records(session, remote.id, [kobo_record(row)], run_id=None, source="poll")
    session.commit()
    [orphan] = of(findings_of(session, qcat, "2026Q2", now=at("2026-06-01")), "unknown_form_version")
    assert (orphan.form_id, orphan.subject, orphan.submissions, orphan.partner) == (
        "old_survey",
        "remote form kobo-old-survey",
        ("990001",),
        None,
    )
    assert of(quality_findings(session, qcat, "2026Q3", now=at("2026-06-01")), "unknown_form_version") == []


# --- partner filter, order, summary ------------------------------------------------------------------------


def test_the_partner_filter_keeps_only_that_partners_findings_in_check_order(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    attend(qstore, "Sara K", "2026-04-01", submitted="2026-05-20T08:00:00")  # P1, late
    attend(qstore, "Omar Idrissi", "2026-04-01", grant="G2", submitted="2026-05-21T08:00:00")  # P2, late
    grant_report(qstore, "G1", "2026-06-30", sessions_count=80, submitted="2026-07-10T09:00:00")  # P1 range
    everything = findings_of(session, qcat, "2026Q2", now=at("2026-09-01"))
    assert {f.partner for f in everything} == {"P1", "P2"}
    p1 = quality_findings(session, qcat, "2026Q2", partner="P1", now=at("2026-09-01"))
    assert p1 == [f for f in everything if f.partner == "P1"]
    assert {f.check for f in p1} == {"late_submission", "out_of_range"}
    assert [f.check for f in everything] == sorted((f.check for f in everything), key=CHECKS.index)
    assert {f.check for f in quality_findings(session, qcat, "2026Q2", partner="P2", now=at("2026-09-01"))} == {
        "late_submission",
        "missing_report",
    }
    summary = quality_summary(everything)
    assert list(summary) == list(CHECKS)
    assert sum(sum(counts.values()) for counts in summary.values()) == len(everything)
    assert summary["out_of_range"]["error"] == 1


def test_a_period_must_be_a_quarter(session: Session, qcat: Catalogue) -> None:
    with pytest.raises(ValueError, match="not a quarter"):
        quality_findings(session, qcat, "2027-Q2")


def test_simple_bounds_are_read_from_constraints() -> None:
    from analysis.quality_values import conjuncts

    assert conjuncts(". >= 0 and . <= 50 and . + ${leaders_female} >= 1") == [
        ". >= 0",
        ". <= 50",
        ". + ${leaders_female} >= 1",
    ]
    assert conjuncts(". >= 0 and . <= 110 and (string(${b}) = '' or . > 1)") == [
        ". >= 0",
        ". <= 110",
        "(string(${b}) = '' or . > 1)",
    ]
    assert conjuncts(". < 3 or . > 10") is None  # no simple bound
    assert conjuncts("regex(., '^a and b$')") == ["regex(., '^a and b$')"]


# --- duplicate_report --------------------------------------------------------------------------------------


def test_a_second_start_sheet_of_a_grant_is_an_error_in_the_quarter_of_each(
    session: Session, qcat: Catalogue, qstore: Store
) -> None:
    first = grant_report(qstore, "G1", "2026-02-10", report_type="start", submitted="2026-02-11T09:00:00")
    grant_report(qstore, "G2", "2026-02-12", report_type="start", submitted="2026-02-13T09:00:00")
    grant_report(qstore, "G1", "2026-03-31", submitted="2026-04-05T09:00:00")  # a quarterly report: not a start
    assert of(findings_of(session, qcat, "2026Q1", now=at("2026-06-01")), "duplicate_report") == []
    again = grant_report(
        qstore, "G1", "2026-05-02", report_type="start", submitted="2026-05-03T09:00:00", platform="odk"
    )
    for period in ("2026Q1", "2026Q2"):
        [found] = of(findings_of(session, qcat, period, now=at("2026-06-01")), "duplicate_report")
        assert (found.severity, found.partner, found.subject, found.value) == ("error", "P1", "grant G1", 2.0)
        assert found.submissions == (remote_id(session, first), remote_id(session, again))
        assert "T1 2026" in found.message.fr and "T2 2026" in found.message.fr and "G1" in found.message.ar
    assert of(findings_of(session, qcat, "2026Q3", now=at("2026-06-01")), "duplicate_report") == []
    qstore.delete("grant_report", again, platform="odk")
    assert of(findings_of(session, qcat, "2026Q1", now=at("2026-06-01")), "duplicate_report") == []
