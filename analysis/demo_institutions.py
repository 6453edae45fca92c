"""Component 2 forms: follow-up visits to the public institutions PRIM 2 supports, and the knowledge tests of the
agents and elected officials it trains.

Each institution moves along a path: first contact, an agreement, then for most a service open to migrants, for
some a protocol formally adopted and a planning document that integrates migration and gender. Visits every two
or three months report the state at the visit, so the stocks (agreements, services, protocols) grow over time.
Trainings run in sessions per region (`ORI-2027-04`); each participant takes the same test before and after,
scoring about three points more out of ten after; some people come back for another module.
"""

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from analysis.demo_kobo import Answer, Draft, Scenario, device_id, received_after, upload_delay
from analysis.demo_people import Trainee, Trainees
from analysis.demo_world import (
    LAST_DAY,
    REGION_PREFIX,
    DemoUnsupported,
    Institution,
    World,
    allocate,
    at,
    quarter_end,
    spread,
    weekday_days,
)
from catalogue.model import Question, walk_questions

PLANNING_TYPES = ("commune", "regional_council", "province")
"""Institutions that have a planning document (PAC, PDR, provincial programme): the form asks them only."""
USER_SEX = {"female": 0.5, "male": 0.45, "unknown": 0.05}
USER_PROFILE = {"tcn": 0.5, "returnee": 0.15, "mre": 0.15, "host": 0.12, "unknown": 0.08}
PROTOCOLS = {
    "reception_procedure": 0.3,
    "referral_pathway": 0.25,
    "inter_institutional_agreement": 0.15,
    "procedure_guide": 0.15,
    "charter": 0.1,
    "other": 0.05,
}


@dataclass(frozen=True)
class Path:
    """The milestones of one institution; None for one it never reaches."""

    institution: Institution
    first_visit: dt.date
    agreement: dt.date | None
    service: dt.date | None
    protocol: dt.date | None
    plan: dt.date | None
    agreement_kind: str


def _after(rng: random.Random, day: dt.date | None, low: int, high: int) -> dt.date | None:
    if day is None:
        return None
    later = day + dt.timedelta(days=rng.randint(low, high))
    return later if later <= LAST_DAY else None


class CommuneSupportScenario(Scenario):
    form_id = "commune_support"
    share = 0.05

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world, seed)
        if not world.institutions:
            raise DemoUnsupported("commune_support needs institutions (dimension `institution`)")
        rng = random.Random(f"{seed}/commune_support/paths")
        self.paths = [self._path(rng, institution) for institution in world.institutions]
        self.support = [
            c for c in world.codes(self.form_id, "support_type") if c not in ("mou", "cooperation_agreement")
        ]
        self.services = world.codes(self.form_id, "services_set_up")
        self.user_sex = world.picker(self.form_id, "user_sex", USER_SEX)
        self.user_profile = world.picker(self.form_id, "user_profile", USER_PROFILE)
        self.protocol_type = world.picker(self.form_id, "protocol_type", PROTOCOLS)
        self.acts = set(world.codes(self.form_id, "protocol_act"))
        self.types = set(world.codes(self.form_id, "institution_type"))
        self._visits: list[tuple[dt.date, Path]] | None = None

    def _path(self, rng: random.Random, institution: Institution) -> Path:
        first = dt.date(2026, 5, 1) + dt.timedelta(days=rng.randint(0, 240))
        agreement = _after(rng, first, 30, 420) if rng.random() < 0.84 else None
        service = _after(rng, agreement, 60, 300) if rng.random() < 0.85 else None
        chance = 0.9 if institution.type == "commune" else 0.45
        protocol = _after(rng, agreement, 90, 520) if rng.random() < chance else None
        planning = institution.type in PLANNING_TYPES and rng.random() < 0.6
        plan = _after(rng, agreement, 120, 600) if planning else None
        kind = "mou" if rng.random() < 0.6 else "cooperation_agreement"
        return Path(institution, first, agreement, service, protocol, plan, kind)

    def visits(self) -> list[tuple[dt.date, Path]]:
        """Every follow-up visit over the programme, by date: roughly every two to three months per institution."""
        if self._visits is None:
            rng = random.Random(f"{self.seed}/commune_support/visits")
            found = []
            for path in self.paths:
                day = path.first_visit
                while day <= LAST_DAY:
                    if day.weekday() < 5:
                        found.append((day, path))
                    day += dt.timedelta(days=rng.randint(50, 100))
            self._visits = sorted(found, key=lambda visit: (visit[0], visit[1].institution.code))
        return self._visits

    def capacity(self) -> int:
        return len(self.visits())

    def drafts(self, count: int) -> Iterator[Draft]:
        visits = self.visits()
        if count < len(visits):
            keep = set(random.Random(f"{self.seed}/commune_support/sample").sample(range(len(visits)), count))
            visits = [visit for index, visit in enumerate(visits) if index in keep]
        for day, path in visits:
            yield self._visit(day, path)

    def _visit(self, day: dt.date, path: Path) -> Draft:
        rng = self.rng
        institution = path.institution
        place = institution.place
        kind = institution.type if institution.type in self.types else "unknown"
        answers: dict[str, Answer] = {
            "visit_date": day.isoformat(),
            "region": place.region,
            "province": place.province,
            "commune": place.commune,
            "institution_type": kind,
            "institution": institution.code,
        }
        signed = path.agreement is not None and path.agreement <= day
        support = [path.agreement_kind] if signed else []
        support += [code for code in self.support if rng.random() < {"technical_assistance": 0.7}.get(code, 0.2)]
        fallback = "technical_assistance" if "technical_assistance" in self.support else self.support[0]
        answers["support_type"] = " ".join(support or [fallback])
        answers["agreement_signed"] = "yes" if signed else "no"
        if signed:
            assert path.agreement is not None
            answers["agreement_date"] = path.agreement.isoformat()
        operational = path.service is not None and path.service <= day
        answers["service_operational"] = "yes" if operational else "no"
        if operational:
            answers["services_set_up"] = " ".join(sorted(rng.sample(self.services, rng.randint(1, 3))))
        if kind in PLANNING_TYPES:
            answers["plan_integrates"] = "yes" if path.plan is not None and path.plan <= day else "no"
            if answers["plan_integrates"] == "yes" and rng.random() < 0.7:
                answers["plan_document"] = f"plan_action_{institution.code.lower()}.pdf"
        adopted = path.protocol is not None and path.protocol <= day
        answers["protocol_formalised"] = "yes" if adopted else "no"
        if adopted:
            assert path.protocol is not None
            act = "council_deliberation" if kind == "commune" else rng.choice(("signature", "service_note"))
            answers["protocol_type"] = self.protocol_type(random.Random(f"{self.seed}/{institution.code}/protocol"))
            answers["protocol_title"] = (
                f"Procédure d'accueil et d'orientation des personnes migrantes – {institution.label}"
            )
            answers["protocol_act"] = act if act in self.acts else sorted(self.acts)[0]
            answers["protocol_date"] = path.protocol.isoformat()
            answers["protocol_document"] = f"protocole_{institution.code.lower()}.pdf"
        trained = "training" in support
        answers["staff_trained_female"] = str(rng.randint(1, 8) if trained else 0)
        answers["staff_trained_male"] = str(rng.randint(1, 10) if trained else 0)
        if operational:
            assert path.service is not None
            answers["service_users"] = self._users(day, path.service)
        if rng.random() < 0.4:
            answers["evidence_photo"] = f"{int(at(day, 600).timestamp() * 1000)}.jpg"
        if rng.random() < 0.2:
            answers["evidence_doc"] = f"compte_rendu_{day.isoformat()}.pdf"
        if rng.random() < 0.5:
            answers["visit_comments"] = "Point d'étape avec le point focal ; prochaine visite dans deux à trois mois."
        username = f"prim2_cp_{place.region}"
        minute = rng.uniform(10 * 60, 15 * 60)
        started, ended = at(day, minute), at(day, minute + rng.uniform(15, 45))
        received = received_after(ended, upload_delay(rng, 0.08))
        return Draft(
            answers, started, ended, received, username, device_id(self.seed, username), day, rng.random() < 0.03
        )

    def _users(self, day: dt.date, opened: dt.date) -> list[dict[str, str]]:
        """Services given since the last visit, from the service's register, by sex and profile."""
        rng = self.rng
        months_open = max(1.0, (day - opened).days / 30)
        total = int(rng.uniform(8, 25) * min(4.0, 1 + months_open / 4))
        if rng.random() < 0.01:
            total *= 15  # an outlier, within the form's limit, for the quality checks
        rows: dict[tuple[str, str], int] = {}
        for _ in range(rng.randint(2, 6)):
            rows.setdefault((self.user_sex(rng), self.user_profile(rng)), 0)
        keys = list(rows)
        for _ in range(max(total, len(keys))):
            rows[rng.choice(keys)] += 1
        return [
            {"user_sex": sex, "user_profile": profile, "user_count": str(min(count, 10000))}
            for (sex, profile), count in rows.items()
            if count
        ]


# --- training tests -----------------------------------------------------------------------------------------

QUARTER_WEIGHTS = {
    "2026Q3": 0.5,
    "2026Q4": 1.0,
    "2027Q1": 1.2,
    "2027Q2": 1.2,
    "2027Q3": 0.8,
    "2027Q4": 1.2,
    "2028Q1": 0.9,
    "2028Q2": 0.8,
}
TESTS_PER_SESSION = 34
MAX_SESSIONS_A_YEAR = 99
"""Session codes have two digits (`ORI-2027-07`): at most 99 sessions per region and year."""
MAX_PARTICIPANTS = 30
DIFFICULTY = (0.3, -0.2, -0.6, 0.8, -0.1, 0.0)
"""How easy each test question is before training (logistic scale); training adds 1.8, which gives about 4.4/10
before, 7.6/10 after and seven in ten at 7 or more, near R2.2-2 and R2.2-3's targets."""


@dataclass(frozen=True)
class TrainingSession:
    region: str
    code: str
    first_day: dt.date
    last_day: dt.date
    module: str
    tests: int


class TrainingScenario(Scenario):
    form_id = "training_test"
    share = 0.09

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world, seed)
        self.regions = [region for region in world.regions if region in REGION_PREFIX]
        if not self.regions:
            raise DemoUnsupported("training sessions need the regions 02 (ORI) or 09 (SM)")
        provinces = {value.code: value.label.fr for value in world.lookup.values("province")}
        self.trainees = Trainees(world, seed, provinces)
        self.created = dict.fromkeys(self.regions, 0)
        self.modules = world.codes(self.form_id, "training_module")
        self.positions = set(world.codes(self.form_id, "position"))
        self.types = set(world.codes(self.form_id, "institution_type"))
        self.questions = [question.name for question in self.scored_questions()]
        self.scores = {name: world.scores(self.form_id, name) for name in self.questions}

    def scored_questions(self) -> list[Question]:
        """The test's questions: single choices from a list whose choices carry points."""
        found = []
        for _, question in walk_questions(self.form.questions):
            if question.type != "select_one" or not question.choices:
                continue
            choice_list = self.world.lookup.choice_list(self.form, question.choices)
            if choice_list is not None and any(choice.score for choice in choice_list.choices):
                found.append(question)
        if not found:
            raise DemoUnsupported("training_test has no scored questions (choices with a `score`)")
        return found

    def people(self) -> int:
        return sum(self.created.values())

    def _cells(self) -> list[tuple[str, str]]:
        return [(region, quarter) for quarter in QUARTER_WEIGHTS for region in self.regions]

    def _session_count(self, count: int) -> tuple[int, list[int]]:
        """Sessions to hold and their split over (region, quarter), keeping each region-year under 100 sessions."""
        cells = self._cells()
        weights = [QUARTER_WEIGHTS[quarter] for _, quarter in cells]
        years: dict[tuple[str, str], float] = {}
        for (region, quarter), weight in zip(cells, weights, strict=True):
            years[(region, quarter[:4])] = years.get((region, quarter[:4]), 0.0) + weight
        ceiling = int(MAX_SESSIONS_A_YEAR * sum(weights) / max(years.values())) + 1
        total = max(1, min(round(count / TESTS_PER_SESSION), ceiling))
        while True:
            split = spread(total, weights)
            held: dict[tuple[str, str], int] = {}
            for (region, quarter), sessions in zip(cells, split, strict=True):
                held[(region, quarter[:4])] = held.get((region, quarter[:4]), 0) + sessions
            if max(held.values()) <= MAX_SESSIONS_A_YEAR or total == 1:
                return total, split
            total -= 1

    def capacity(self) -> int:
        sessions, _ = self._session_count(10**9)
        return sessions * MAX_PARTICIPANTS * 2

    def sessions(self, count: int) -> list[TrainingSession]:
        rng = random.Random(f"{self.seed}/training_test/sessions")
        _, split = self._session_count(count)
        planned: list[tuple[dt.date, str, int]] = []
        for (region, quarter), sessions in zip(self._cells(), split, strict=True):
            end = min(quarter_end(quarter), LAST_DAY)
            days, weights = weekday_days(end.replace(day=1) - dt.timedelta(days=58), end - dt.timedelta(days=3))
            planned += [(day, region, rng.randint(1, 3)) for day in rng.choices(days, weights=weights, k=sessions)]
        planned.sort()
        sizes = allocate(count, [rng.uniform(0.6, 1.4) for _ in planned])
        numbers: dict[tuple[str, int], int] = {}
        found = []
        for (day, region, length), tests in zip(planned, sizes, strict=True):
            key = (region, day.year)
            numbers[key] = numbers.get(key, 0) + 1
            code = f"{REGION_PREFIX[region]}-{day.year}-{numbers[key]:02d}"
            module = self.modules[(numbers[key] - 1) % len(self.modules)]
            found.append(TrainingSession(region, code, day, day + dt.timedelta(days=length - 1), module, tests))
        return found

    def drafts(self, count: int) -> Iterator[Draft]:
        for session in self.sessions(count):
            yield from self._session(session)

    def _session(self, session: TrainingSession) -> Iterator[Draft]:
        rng = self.rng
        taking: list[tuple[int, bool, bool]] = []
        seen: set[int] = set()
        slots = session.tests
        while slots > 0:
            index = self._participant(session.region, seen)
            seen.add(index)
            draw = rng.random()
            pre, post = (True, False) if draw < 0.05 else ((False, True) if draw < 0.08 else (True, True))
            if slots == 1:
                pre, post = (True, False) if rng.random() < 0.5 else (False, True)
            taking.append((index, pre, post))
            slots -= int(pre) + int(post)
        username = f"prim2_formation_{session.region}"
        device = device_id(self.seed, username)
        delay = upload_delay(rng, 0.02)
        for moment, day, minute in (("pre", session.first_day, 9 * 60), ("post", session.last_day, 15 * 60)):
            for index, pre, post in taking:
                if not (pre if moment == "pre" else post):
                    continue
                started = at(day, minute)
                minute += rng.uniform(1.5, 4)
                ended = at(day, minute)
                received = received_after(ended, delay + dt.timedelta(minutes=rng.uniform(0, 5)))
                if rng.random() < 0.01:
                    # no answers, but the phone still computes the score outside the groups: zero
                    refused: dict[str, Answer] = {"consent": "no", "score_total": "0"}
                    yield Draft(refused, started, ended, received, username, device, None)
                    continue
                trainee = self.trainees.get(session.region, index)
                answers = self._answers(session, moment, day, trainee)
                yield Draft(answers, started, ended, received, username, device, day, rng.random() < 0.01)

    def _participant(self, region: str, seen: set[int]) -> int:
        """A new agent or official (seven in ten), or one back for another module."""
        created = self.created[region]
        if created and self.rng.random() < 0.3:
            index = self.rng.randrange(created)
            if index not in seen:
                return index
        self.created[region] += 1
        return created

    def _answers(self, session: TrainingSession, moment: str, day: dt.date, trainee: Trainee) -> dict[str, Answer]:
        rng = self.rng
        answers: dict[str, Answer] = {
            "consent": "yes",
            "training_date": day.isoformat(),
            "session_code": session.code,
            "training_module": session.module,
            "test_moment": moment,
            "first_name": trainee.first_name,
            "last_name": trainee.last_name,
            "birth_year": str(trainee.birth_year),
        }
        if trainee.phone:
            answers["phone"] = trainee.phone
        answers["sex"] = trainee.sex
        answers["institution_type"] = trainee.institution_type if trainee.institution_type in self.types else "unknown"
        answers["institution_name"] = trainee.institution_name
        answers["position"] = trainee.position if trainee.position in self.positions else sorted(self.positions)[0]
        answers["region"] = trainee.workplace.region
        answers["province"] = trainee.workplace.province
        if trainee.commune_given:
            answers["commune"] = trainee.workplace.commune
        total = 0.0
        boost = 1.8 if moment == "post" else 0.0
        for name, difficulty in zip(self.questions, DIFFICULTY + (0.0,) * len(self.questions), strict=False):
            choice = self._answer(name, trainee.ability * 0.9 + difficulty - 0.5 + boost, moment, rng)
            answers[name] = choice
            total += self.scores[name][choice]
        score = str(int(total)) if total.is_integer() else str(total)
        answers["score_total"] = score
        answers["score_pre" if moment == "pre" else "score_post"] = score
        return answers

    def _answer(self, name: str, logit: float, moment: str, rng: random.Random) -> str:
        scores = self.scores[name]
        best = max(scores.values())
        if rng.random() < 1 / (1 + math.exp(-logit)):
            return next(code for code, score in scores.items() if score == best)
        partial = [code for code, score in scores.items() if 0 < score < best]
        if partial and rng.random() < 0.45:
            return rng.choice(partial)
        if "dk" in scores and rng.random() < (0.5 if moment == "pre" else 0.25):
            return "dk"
        wrong = [code for code, score in scores.items() if score == 0 and code != "dk"]
        return rng.choice(wrong or list(scores))
