"""Grant reports from the partner organisations: a start sheet at signature, a report each quarter, a final one.

Each grant reports on its own calendar (from the quarter it started in, or the next when it started late in the
quarter, to the quarter it ends in, whose report is the final one). Partners differ in punctuality: most send
within the 30 days the convention gives, some often late, and a few quarters are never reported. Budget
execution starts slow and catches up; a few quarters fall outside 70–120 % and carry an explanation.
"""

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from analysis.demo_kobo import Answer, Draft, Scenario, device_id
from analysis.demo_people import grant_focus
from analysis.demo_world import (
    SERVER_CLOSES,
    Grant,
    World,
    at,
    next_quarter,
    quarter_end,
    quarter_of,
)
from analysis.demo_xpath import round_half_up, to_string

LAST_UPLOAD = (SERVER_CLOSES - dt.timedelta(days=3)).date()
ACTIVITY_LABELS = {
    "reception_info": "permanences d'accueil et d'information",
    "legal_admin": "accompagnement juridique et administratif",
    "health": "accompagnement vers les soins",
    "psychosocial": "groupes de parole et soutien psychosocial",
    "training": "formations",
    "economic": "ateliers d'insertion économique",
    "awareness": "séances de sensibilisation",
    "social_cohesion": "activités culturelles et de cohésion sociale",
    "diaspora_support": "accompagnement des MRE",
    "individual_followup": "suivis individuels",
    "other": "autres activités",
}
REACHED_SEX = {"female": 0.5, "male": 0.46, "unknown": 0.04}
REACHED_PROFILE = {"tcn": 0.45, "returnee": 0.15, "mre": 0.1, "host": 0.25, "unknown": 0.05}
REACHED_AGE = {"y0_17": 0.1, "y18_24": 0.2, "y25_34": 0.3, "y35_59": 0.25, "y60_plus": 0.03, "unknown": 0.12}


@dataclass(frozen=True)
class Due:
    """A report a grant sends: which, for what quarter, and the day its partner enters it."""

    grant: Grant
    report_type: str
    quarter: str | None
    reference: dt.date
    entered: dt.date
    index: int
    """Its rank among the grant's period reports (0 for the first), which drives budget execution."""
    periods: int


class GrantReportScenario(Scenario):
    form_id = "grant_report"
    share = 0.03
    late_after = 30
    """Reports are due 30 days after the quarter's last day."""

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world, seed)
        self.quarters = set(world.codes(self.form_id, "reporting_quarter"))
        self.activity = world.picker(self.form_id, "activities_done")
        self.reformulation = [c for c in world.codes(self.form_id, "reformulation_support") if c != "none"]
        self.difficulties = [c for c in world.codes(self.form_id, "difficulties") if c != "none"]
        self.sex = world.picker(self.form_id, "reached_sex", REACHED_SEX)
        self.profile = world.picker(self.form_id, "reached_profile", REACHED_PROFILE)
        self.age = world.picker(self.form_id, "reached_age_band", REACHED_AGE)
        self.kinds = set(world.codes(self.form_id, "organisation_kind"))
        labels = {value.code: value.label.fr for value in world.lookup.values("grant")}
        self.women_led = {
            g.partner: grant_focus(g, labels.get(g.code, "")).women > 0.8
            or random.Random(f"{seed}/{g.partner}").random() < 0.35
            for g in world.grants
        }
        self._schedule: list[Due] | None = None

    def schedule(self) -> list[Due]:
        """Every report the grants send over the programme, in the order partners enter them."""
        if self._schedule is None:
            rng = random.Random(f"{self.seed}/grant_report/schedule")
            dues: list[Due] = []
            for grant in self.world.grants:
                lateness = rng.choice((0.08, 0.15, 0.25, 0.45))
                dues.append(
                    Due(grant, "start", None, grant.start, grant.start + dt.timedelta(rng.randint(2, 25)), 0, 0)
                )
                quarters = self.reporting_quarters(grant)
                for index, quarter in enumerate(quarters):
                    final = index == len(quarters) - 1
                    if not final and rng.random() < 0.05:
                        continue  # a quarter never reported: the quality checks should flag it
                    end = quarter_end(quarter)
                    draw = rng.random()
                    delay = rng.randint(3, 30) if draw > lateness else rng.randint(31, 75)
                    if draw < 0.04:
                        delay = rng.randint(76, 130)
                    entered = min(end + dt.timedelta(days=delay), LAST_UPLOAD)
                    kind = "final" if final else "quarterly"
                    dues.append(Due(grant, kind, quarter, end, entered, index, len(quarters)))
            self._schedule = sorted(dues, key=lambda due: (due.entered, due.grant.code))
        return self._schedule

    def reporting_quarters(self, grant: Grant) -> list[str]:
        """The quarters a grant owes a report for: from its first (the next one if it started in the last 45 days
        of a quarter) to the one it ends in, among those the form offers."""
        quarter = quarter_of(grant.start)
        if (quarter_end(quarter) - grant.start).days < 45:
            quarter = next_quarter(quarter)
        found = []
        while quarter <= quarter_of(grant.end) and quarter_end(quarter) < LAST_UPLOAD:
            if quarter in self.quarters:
                found.append(quarter)
            quarter = next_quarter(quarter)
        return found

    def capacity(self) -> int:
        return len(self.schedule())

    def drafts(self, count: int) -> Iterator[Draft]:
        dues = self.schedule()
        if count < len(dues):
            keep = set(random.Random(f"{self.seed}/grant_report/sample").sample(range(len(dues)), count))
            dues = [due for index, due in enumerate(dues) if index in keep]
        for due in dues:
            yield self._draft(due)

    def _draft(self, due: Due) -> Draft:
        rng = self.rng
        grant = due.grant
        answers: dict[str, Answer] = {
            "partner": grant.partner,
            "grant": grant.code,
            "project_region": grant.region,
            "report_type": due.report_type,
        }
        if due.report_type == "start":
            answers["reference_date"] = due.reference.isoformat()
            answers.update(self._start(grant))
        else:
            assert due.quarter is not None
            answers["reporting_quarter"] = due.quarter
            answers["quarter_end"] = quarter_end(due.quarter).isoformat()
            answers["reference_date"] = due.reference.isoformat()
            answers["days_after_quarter_end"] = str((due.entered - due.reference).days)
            answers.update(self._period(due))
        username = grant.partner.lower().replace("-", "_")
        minute = rng.uniform(9 * 60, 17 * 60)
        started = at(due.entered, minute)
        ended = at(due.entered, minute + rng.uniform(25, 90))
        received = (ended + dt.timedelta(seconds=rng.uniform(1, 30))).astimezone(dt.UTC)
        validation = None
        if (SERVER_CLOSES - received).days > 30:
            draw = rng.random()
            validation = (
                "validation_status_approved"
                if draw < 0.85
                else "validation_status_on_hold"
                if draw < 0.9
                else "validation_status_not_approved"
                if draw < 0.93
                else None
            )
        device = device_id(self.seed, username, web=True)
        return Draft(
            answers, started, ended, received, username, device, due.reference, rng.random() < 0.06, validation
        )

    def _start(self, grant: Grant) -> dict[str, Answer]:
        rng = self.rng
        months = (grant.end.year - grant.start.year) * 12 + grant.end.month - grant.start.month
        months += 1 if grant.end.day >= grant.start.day else 0
        support = ["none"] if rng.random() < 0.08 else rng.sample(self.reformulation, rng.randint(1, 4))
        return {
            "grant_amount_eur": str(grant.amount),
            "duration_months": str(max(3, min(30, months))),
            "reformulation_support": " ".join(support),
            "organisation_kind": grant.kind if grant.kind in self.kinds else sorted(self.kinds)[0],
            "partner_led_by_woman": "yes" if self.women_led[grant.partner] else "no",
        }

    def _period(self, due: Due) -> dict[str, Answer]:
        rng = self.rng
        grant = due.grant
        done = sorted({self.activity(rng) for _ in range(rng.randint(2, 5))})
        sessions = rng.randint(6, 60)
        answers: dict[str, Answer] = {
            "activities_done": " ".join(done),
            "sessions_count": str(sessions),
            "activities_summary": f"{sessions} séances ce trimestre : "
            + ", ".join(ACTIVITY_LABELS.get(code, code) for code in done)
            + ".",
        }
        collective = rng.random() < 0.75
        answers["collective_activities"] = "yes" if collective else "no"
        total = 0
        if collective:
            rows = self._reached(grant)
            answers["reached"] = rows
            total = sum(int(row["reached_count"]) for row in rows)
        answers["reached_total"] = str(total)
        planned, executed = self._budget(due)
        answers["budget_planned_eur"] = planned
        answers["budget_executed_eur"] = executed
        plan, spent = float(planned), float(executed)
        if plan > 0:
            answers["execution_rate_q"] = to_string(round_half_up(100 * spent / plan, 1))
            if spent / plan < 0.7 or spent / plan > 1.2:
                answers["budget_gap_explanation"] = (
                    "Décalage du calendrier des activités ; dépenses reportées au trimestre suivant."
                    if spent / plan < 0.7
                    else "Rattrapage des activités reportées du trimestre précédent."
                )
        gender = rng.random() < min(0.95, 0.62 + 0.06 * due.index)
        answers["gender_approach"] = "yes" if gender else "no"
        if gender:
            answers["gender_evidence"] = "Analyse des besoins des femmes et des hommes ; horaires adaptés."
            if rng.random() < 0.6:
                answers["gender_evidence_file"] = f"analyse_genre_{due.quarter}.pdf"
        women = rng.randint(1, 3) if self.women_led[grant.partner] else rng.randint(0, 2)
        men = rng.randint(0, 2) if self.women_led[grant.partner] else rng.randint(1, 3)
        men = max(men, 1 - women)
        answers["leaders_female"], answers["leaders_male"] = str(women), str(men)
        answers["leaders_total"] = str(women + men)
        products = rng.choices((0, 1, 2), weights=(0.75, 0.2, 0.05))[0] + (1 if due.report_type == "final" else 0)
        answers["capitalisation_products"] = str(products)
        if products:
            answers["capitalisation_desc"] = "Fiche de bonnes pratiques (PDF, partenaires et institutions)."
            if rng.random() < 0.7:
                answers["capitalisation_file"] = f"capitalisation_{grant.code}_{due.quarter}.pdf"
        if rng.random() < 0.35:
            answers["difficulties"] = "none"
        else:
            answers["difficulties"] = " ".join(sorted(rng.sample(self.difficulties, rng.randint(1, 2))))
            answers["difficulties_detail"] = "Difficultés signalées au chargé de suivi ; mesures d'adaptation prises."
        answers["narrative"] = "Les activités avancent conformément au plan de travail ; voir le résumé ci-dessus."
        if due.report_type == "final":
            answers["lessons_learned"] = "Ancrer l'orientation dans des conventions avec les services publics."
        return answers

    def _reached(self, grant: Grant) -> list[dict[str, str]]:
        rng = self.rng
        combos: dict[tuple[str, str, str], int] = {}
        for _ in range(rng.randint(2, 6)):
            combos[(self.sex(rng), self.profile(rng), self.age(rng))] = 0
        total = int(rng.randint(30, 170) * grant.amount / 80000)
        if rng.random() < 0.01:
            total *= 12  # an outlier, within the form's limit, for the quality checks
        keys = list(combos)
        for _ in range(max(total, len(keys))):
            combos[rng.choice(keys)] += 1
        rows = []
        for (sex, profile, age), count in combos.items():
            if count:
                rows.append(
                    {
                        "reached_sex": sex,
                        "reached_profile": profile,
                        "reached_age_band": age,
                        "reached_count": str(min(count, 5000)),
                    }
                )
        return rows

    def _budget(self, due: Due) -> tuple[str, str]:
        """Planned and spent euros for the quarter, as partners type them (whole euros or cents)."""
        rng = self.rng
        if rng.random() < 0.02:
            return "0", str(rng.randint(0, 900))
        share = due.grant.amount * 0.92 / max(1, due.periods)
        planned = round(share * rng.uniform(0.75, 1.25) / 50) * 50
        low, high = (0.55, 0.9) if due.index == 0 else (0.75, 1.08)
        rate = rng.uniform(low, high)
        if rng.random() < 0.08:
            rate = rng.uniform(0.35, 0.65) if rng.random() < 0.6 else rng.uniform(1.22, 1.45)
        spent = planned * rate
        return str(planned), (f"{spent:.2f}" if rng.random() < 0.6 else str(round(spent)))
