"""Beneficiary-facing forms: attendance registrations by partners' field staff, and the feedback and complaints
register.

Attendance follows each grant's life: few registrations in its first months, a plateau, a lull in August, a tail
before it closes. Field staff register people at individual services and group sessions; about four visits in ten
are someone's first, the others bring people back (often the recently registered ones, sometimes at another
partner of the same region), so the same identifiers recur across activities and quarters. Phones go offline:
most forms reach the server within the day, some weeks later.
"""

import datetime as dt
import math
import random
from collections.abc import Iterator

from analysis.demo_kobo import Answer, Draft, Scenario, device_id, received_after, upload_delay
from analysis.demo_people import PROFILE_MIX, Beneficiaries, Beneficiary, Focus, grant_focus
from analysis.demo_world import (
    FIRST_DAY,
    LAST_DAY,
    SERVER_CLOSES,
    DemoUnsupported,
    Grant,
    Picker,
    World,
    at,
    month_end,
    months,
    spread,
    weekday_days,
)

ACTIVITY_MIX = {
    "reception_info": 0.19,
    "legal_admin": 0.11,
    "health": 0.08,
    "psychosocial": 0.07,
    "training": 0.08,
    "economic": 0.09,
    "awareness": 0.12,
    "social_cohesion": 0.06,
    "diaspora_support": 0.03,
    "individual_followup": 0.15,
    "other": 0.02,
}
GROUP_ACTIVITIES = frozenset({"training", "awareness", "social_cohesion", "economic"})
"""Activities held as sessions with several people registered the same day."""
SERVICES = {
    "reception_info": ("information",),
    "legal_admin": ("legal", "administrative"),
    "health": ("health",),
    "psychosocial": ("psychosocial",),
    "training": ("education_training",),
    "economic": ("economic",),
    "awareness": ("information",),
    "social_cohesion": ("other", "information"),
    "diaspora_support": ("administrative", "economic"),
    "individual_followup": ("information", "administrative", "health", "psychosocial", "legal"),
    "other": ("other",),
}
REFERRALS = {
    "health": ("health_facility",),
    "legal_admin": ("civil_registry", "local_authority", "justice"),
    "economic": ("employment",),
    "training": ("education", "employment"),
    "diaspora_support": ("mre_desk", "civil_registry"),
    "psychosocial": ("social_services", "health_facility"),
}
OUTCOMES = {"accessed": 0.62, "in_progress": 0.18, "refused": 0.05, "abandoned": 0.07, "no_prior_referral": 0.08}
COMMENTS = (
    "Rendez-vous fixé pour la semaine prochaine.",
    "Accompagnée par une médiatrice de l'association.",
    "Dossier transmis au service concerné.",
    "Personne orientée lors d'une visite précédente.",
    "Besoin d'interprétariat (anglais).",
    "Documents manquants, à compléter.",
)
RAMADAN_MONTHS = {(2027, 2), (2028, 2)}
NEW_PERSON = 0.42
"""The share of registrations that are someone's first: about 2.4 contacts per person, as R1.3-2 vs R1.3-1 plan."""


def age_band(age: int | None) -> str:
    """The attendance form's `age_band` calculation, for the value the phone would store."""
    if age is None:
        return "unknown"
    for limit, band in ((18, "y0_17"), (25, "y18_24"), (35, "y25_34"), (60, "y35_59")):
        if age < limit:
            return band
    return "y60_plus"


class Staff:
    """A partner's field staff: who registers, on which phone, and how often that phone is offline."""

    def __init__(self, seed: int, grant: Grant) -> None:
        rng = random.Random(f"{seed}/staff/{grant.code}")
        prefix = grant.partner.lower().replace("-", "")
        self.members = []
        for number in range(1, rng.randint(2, 3) + 1):
            username = f"{prefix}_terrain{number}"
            offline = 0.2 if number == 1 and rng.random() < 0.5 else 0.03
            self.members.append((username, device_id(seed, username), offline))

    def pick(self, rng: random.Random) -> tuple[str, str, float]:
        return rng.choice(self.members)


class AttendanceScenario(Scenario):
    form_id = "attendance"
    share = 0.76

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world, seed)
        if not world.grants:
            raise DemoUnsupported("attendance needs grants (dimension `grant` with partners as parents)")
        labels = {value.code: value.label.fr for value in world.lookup.values("grant")}
        self.focus: dict[str, Focus] = {g.code: grant_focus(g, labels.get(g.code, "")) for g in world.grants}
        self.people_of = Beneficiaries(world, seed, self.focus)
        self.created = {grant.code: 0 for grant in world.grants}
        self.staff = {grant.code: Staff(seed, grant) for grant in world.grants}
        codes = set(world.codes(self.form_id, "services"))
        self.services = {
            key: tuple(c for c in value if c in codes) or (sorted(codes)[0],) for key, value in SERVICES.items()
        }
        referral_codes = world.codes(self.form_id, "referral_service")
        self.referrals = {k: tuple(c for c in v if c in referral_codes) for k, v in REFERRALS.items()}
        self.referral_codes = referral_codes
        self.activities = {g.code: self._activity_picker(g) for g in world.grants}
        self.outcome = world.picker(self.form_id, "referral_outcome", OUTCOMES)
        self.profiles_allowed = set(world.codes(self.form_id, "profile"))
        self.gbv_code = "gbv_support" if "gbv_support" in codes else None

    def _activity_picker(self, grant: Grant) -> Picker:
        mix = dict(ACTIVITY_MIX)
        if grant.kind == "diaspora_association":
            mix["diaspora_support"] = 0.14
        if self.focus[grant.code].women > 0.8:
            mix["economic"] = 0.14
        return self.world.picker(self.form_id, "activity_type", mix)

    def people(self) -> int:
        return sum(self.created.values())

    def _cells(self) -> list[tuple[dt.date, Grant, float]]:
        """(month, grant, weight) for every month a grant is active, ramping up and down, quieter in summer."""
        cells = []
        for grant in self.world.grants:
            first, last = max(grant.start, FIRST_DAY), min(grant.end, LAST_DAY)
            for index, month in enumerate(months(first, last)):
                days = (min(month_end(month), last) - max(month, first)).days + 1
                ramp = min(1.0, 0.3 + 0.23 * index)
                fade = 0.65 if (last - month_end(month)).days < 45 else 1.0
                season = 0.55 if month.month == 8 else (0.8 if (month.year, month.month) in RAMADAN_MONTHS else 1.0)
                cells.append((month, grant, grant.amount * ramp * fade * season * days / 30))
        return sorted(cells, key=lambda cell: (cell[0], cell[1].code))

    def drafts(self, count: int) -> Iterator[Draft]:
        cells = self._cells()
        for (month, grant, _), size in zip(cells, spread(count, [c[2] for c in cells]), strict=True):
            if size == 0:
                continue
            days, weights = weekday_days(max(month, grant.start), min(month_end(month), grant.end))
            chosen = sorted(self.rng.choices(days, weights=weights, k=size))
            start = 0
            while start < len(chosen):
                end = start
                while end < len(chosen) and chosen[end] == chosen[start]:
                    end += 1
                yield from self._day(grant, chosen[start], end - start)
                start = end

    def _day(self, grant: Grant, day: dt.date, count: int) -> Iterator[Draft]:
        rng = self.rng
        while count > 0:
            activity = self.activities[grant.code](rng)
            size = min(count, rng.randint(4, 16)) if activity in GROUP_ACTIVITIES else 1
            yield from self._session(grant, day, activity, size)
            count -= size

    def _session(self, grant: Grant, day: dt.date, activity: str, size: int) -> Iterator[Draft]:
        rng = self.rng
        username, device, offline = self.staff[grant.code].pick(rng)
        entry_day = day if rng.random() < 0.85 else day + dt.timedelta(days=rng.randint(1, 8))
        minute = rng.uniform(9 * 60, 15 * 60)
        delay = upload_delay(rng, offline)
        seen: set[tuple[str, int]] = set()
        previous: tuple[str, int] | None = None
        for _ in range(size):
            if previous is not None and activity in GROUP_ACTIVITIES and rng.random() < 0.004:
                who = previous  # registered twice in the same session: a duplicate the quality checks should find
            else:
                who = self._person(grant, seen)
            seen.add(who)
            previous = who
            started = at(entry_day, minute)
            minute += rng.uniform(2, 6)
            ended = at(entry_day, minute)
            minute += rng.uniform(0.2, 1.5)
            received = received_after(ended, delay + dt.timedelta(seconds=rng.uniform(0, 90)))
            if rng.random() < 0.015:
                yield Draft({"consent": "no"}, started, ended, received, username, device, None)
                continue
            person = self.people_of.get(*who)
            answers = self._answers(grant, day, activity, person)
            yield Draft(answers, started, ended, received, username, device, day, edited=rng.random() < 0.012)

    def _person(self, grant: Grant, seen: set[tuple[str, int]]) -> tuple[str, int]:
        """A new person, or one who comes back: mostly the recently registered, sometimes from a sister grant."""
        rng = self.rng
        for _ in range(3):
            created = self.created[grant.code]
            if created == 0 or rng.random() < NEW_PERSON:
                break
            draw = rng.random()
            home = grant.code
            if draw < 0.04:
                sisters = [g.code for g in self.world.grants if g.region == grant.region and self.created[g.code]]
                home = rng.choice(sisters)
                index = rng.randrange(self.created[home])
            elif draw < 0.6:
                index = max(0, created - 1 - int(rng.expovariate(1 / max(5.0, created * 0.05))))
            else:
                index = rng.randrange(created)
            if (home, index) not in seen:
                return home, index
        index = self.created[grant.code]
        self.created[grant.code] += 1
        return grant.code, index

    def _answers(self, grant: Grant, day: dt.date, activity: str, person: Beneficiary) -> dict[str, Answer]:
        rng = self.rng
        if activity not in GROUP_ACTIVITIES and person.economic and rng.random() < 0.3:
            activity = "economic" if "economic" in self.activities[grant.code].codes else activity
        age = person.age_in(day.year, rng)
        last_name = person.last_name.upper() if person.capitals and rng.random() < 0.5 else person.last_name
        answers: dict[str, Answer] = {
            "consent": "yes",
            "activity_date": day.isoformat(),
            "partner": grant.partner,
            "grant": grant.code,
            "activity_type": activity,
            "first_name": person.first_name,
            "last_name": last_name,
        }
        if person.gives_birth_year:
            answers["birth_year"] = str(person.birth_year)
        if person.phone is not None:
            answers["phone"] = person.phone
        answers["sex"] = person.sex
        if age is not None:
            answers["age"] = str(age)
        answers["age_band"] = age_band(age)
        answers["profile"] = person.profile if person.profile in self.profiles_allowed else "unknown"
        answers["region"] = person.region
        if person.province:
            answers["province"] = person.province
        if person.commune:
            answers["commune"] = person.commune
        services = [rng.choice(self.services[activity])]
        if rng.random() < 0.25:
            services.append(rng.choice(self.services["individual_followup"]))
        if self.gbv_code and person.sex == "female" and self.focus[grant.code].women > 0.8 and rng.random() < 0.06:
            services.append(self.gbv_code)
        answers["services"] = " ".join(dict.fromkeys(services))
        referred = rng.random() < (0.06 if activity in GROUP_ACTIVITIES else 0.3)
        answers["referred"] = "yes" if referred else "no"
        if referred:
            answers["referral_service"] = rng.choice(self.referrals.get(activity) or self.referral_codes)
        if activity == "individual_followup":
            answers["referral_outcome"] = self.outcome(rng)
        if rng.random() < 0.08:
            answers["comments"] = rng.choice(COMMENTS)
        return answers


# --- feedback and complaints --------------------------------------------------------------------------------

TYPES = {"complaint": 0.42, "suggestion": 0.2, "appreciation": 0.18, "information_request": 0.2}
CHANNELS = {
    "in_person": 0.3,
    "phone": 0.19,
    "whatsapp": 0.2,
    "suggestion_box": 0.1,
    "email": 0.03,
    "via_partner": 0.13,
    "community_meeting": 0.04,
    "other": 0.01,
}
CATEGORIES = {
    "complaint": {
        "access_services": 0.3,
        "quality": 0.2,
        "targeting": 0.15,
        "staff_conduct": 0.07,
        "information": 0.1,
        "discrimination": 0.07,
        "sensitive": 0.04,
        "other": 0.06,
        "unknown": 0.01,
    },
    "suggestion": {"quality": 0.3, "access_services": 0.3, "information": 0.3, "other": 0.1},
    "appreciation": {"quality": 0.7, "other": 0.3},
    "information_request": {"information": 0.7, "access_services": 0.3},
}
DESCRIPTIONS = {
    "access_services": "La personne signale un délai d'attente trop long pour obtenir un rendez-vous.",
    "quality": "Retour sur la qualité de l'accompagnement reçu lors des permanences.",
    "targeting": "La personne ne comprend pas pourquoi elle n'a pas été retenue pour la formation.",
    "staff_conduct": "Un agent d'accueil aurait répondu de manière inappropriée.",
    "information": "Demande de précisions sur les horaires et les services proposés.",
    "discrimination": "La personne estime avoir été traitée différemment en raison de sa nationalité.",
    "other": "Autre retour transmis par le point focal.",
    "unknown": "Retour reçu sans précision sur son objet.",
}
SENSITIVE = {
    "sea": 0.25,
    "sexual_harassment": 0.2,
    "fraud_corruption": 0.3,
    "child_safeguarding": 0.1,
    "other_abuse": 0.15,
}
RESPONSES = {"in_person": 0.35, "phone": 0.35, "written": 0.1, "via_partner": 0.15, "public_notice": 0.05}
AS_OF = (SERVER_CLOSES - dt.timedelta(days=2)).date()
"""The register's last update: complaints still being handled then are open in the data."""


class FeedbackScenario(Scenario):
    form_id = "feedback"
    share = 0.07

    def __init__(self, world: World, seed: int) -> None:
        super().__init__(world, seed)
        pick = world.picker
        self.channel = pick(self.form_id, "channel", CHANNELS)
        self.kind = pick(self.form_id, "feedback_type", TYPES)
        self.categories = {kind: pick(self.form_id, "category", mix) for kind, mix in CATEGORIES.items()}
        self.profile = pick(self.form_id, "complainant_profile", PROFILE_MIX)
        self.age_band = pick(
            self.form_id,
            "complainant_age_band",
            {"y0_17": 0.03, "y18_24": 0.2, "y25_34": 0.38, "y35_59": 0.3, "y60_plus": 0.03, "unknown": 0.06},
        )
        self.sensitive = pick(self.form_id, "sensitive_type", SENSITIVE)
        self.response = pick(self.form_id, "response_channel", RESPONSES)
        self.anonymous_response = pick(self.form_id, "response_channel", {"public_notice": 0.6, "not_possible": 0.4})
        self.regions = [code for code in world.codes(self.form_id, "region") if code != "unknown"]
        self.partners = {region: [p for p, r in world.partner_region.items() if r == region] for region in self.regions}
        self.statuses = set(world.codes(self.form_id, "resolution_status"))

    def drafts(self, count: int) -> Iterator[Draft]:
        spans = list(months(dt.date(2026, 5, 1), LAST_DAY))
        weights = [min(1.0, 0.2 + 0.12 * index) for index in range(len(spans))]
        for month, size in zip(spans, spread(count, weights), strict=True):
            days, day_weights = weekday_days(month, month_end(month))
            for day in sorted(self.rng.choices(days, weights=day_weights, k=size)):
                yield self._one(day)

    def _one(self, day: dt.date) -> Draft:
        rng = self.rng
        region = rng.choice(self.regions) if rng.random() > 0.03 else "unknown"
        username = f"prim2_redevabilite_{region if region != 'unknown' else self.regions[0]}"
        device = device_id(self.seed, username)
        channel = self.channel(rng)
        kind = self.kind(rng)
        anonymous = rng.random() < (0.9 if channel == "suggestion_box" else 0.18)
        category = self.categories[kind](rng)
        answers: dict[str, Answer] = {
            "date_received": day.isoformat(),
            "channel": channel,
            "feedback_type": kind,
            "anonymous": "yes" if anonymous else "no",
            "complainant_sex": self._sex(anonymous),
            "complainant_profile": "unknown" if anonymous and rng.random() < 0.3 else self.profile(rng),
            "complainant_age_band": "unknown" if anonymous and rng.random() < 0.25 else self.age_band(rng),
            "region": region,
        }
        partners = self.partners.get(region) or [p for group in self.partners.values() for p in group]
        if partners and rng.random() < 0.65:
            answers["partner"] = rng.choice(partners)
        answers["category"] = category
        if category == "sensitive":
            answers["sensitive_type"] = self.sensitive(rng)
            answers["sensitive_description"] = "Faits consignés par le point focal ; détails au dossier confidentiel."
            answers["sensitive_transmitted"] = "yes" if rng.random() < 0.92 else "no"
        else:
            answers["description"] = DESCRIPTIONS.get(category, DESCRIPTIONS["other"])
        contact = not anonymous and rng.random() < 0.75
        if not anonymous:
            answers["consent_contact"] = "yes" if contact else "no"
        if contact:
            if rng.random() < 0.85:
                answers["contact_name"] = rng.choice(("Fatima", "Mamadou", "Aminata", "Youssef", "Grace", "Said"))
            answers["contact_phone"] = rng.choice(("06", "07")) + f"{rng.randrange(10**8):08d}"
        minute = rng.uniform(9 * 60, 16 * 60)
        started, ended = at(day, minute), at(day, minute + rng.uniform(3, 9))
        received = received_after(ended, upload_delay(rng, 0.03))
        status, resolved = self._resolution(kind, category, day)
        answers["resolution_status"] = status
        edited_on: dt.date | None = None
        if resolved is not None:
            answers["resolution_date"] = resolved.isoformat()
            answers["resolution_days"] = str((resolved - day).days)
            answers["response_channel"] = (self.response if not anonymous else self.anonymous_response)(rng)
            if category == "sensitive":
                answers["sensitive_resolution_summary"] = "Mesures conservatoires prises ; suivi par le point focal."
            else:
                answers["resolution_summary"] = "Réponse apportée à la personne ; mesures correctives notées."
            edited_on = resolved if resolved > day else None
        elif status != "received":
            edited_on = min(day + dt.timedelta(days=rng.randint(2, 20)), AS_OF)
        if edited_on is None:
            return Draft(answers, started, ended, received, username, device, day)
        edit_end = max(at(edited_on, rng.uniform(9 * 60, 17 * 60)), ended + dt.timedelta(minutes=5))
        return Draft(answers, started, edit_end, received, username, device, day, edited=True)

    def _sex(self, anonymous: bool) -> str:
        draw = self.rng.random()
        if anonymous:
            return "unknown" if draw < 0.45 else ("female" if draw < 0.73 else "male")
        return "female" if draw < 0.5 else ("male" if draw < 0.97 else "unknown")

    def _resolution(self, kind: str, category: str, day: dt.date) -> tuple[str, dt.date | None]:
        """The status the register shows at the end, and the resolution date if any (≤ the register's last day)."""
        rng = self.rng
        if kind == "complaint" and category == "sensitive":
            if rng.random() < 0.55:
                return "referred_out", None
            days = rng.randint(15, 75)
        elif kind == "complaint":
            if rng.random() < 0.06:
                return "in_progress", None
            days = int(rng.lognormvariate(math.log(9), 0.85))
        elif kind == "information_request":
            days = rng.choice((0, 0, 0, 1, 2, 3)) if rng.random() < 0.9 else -1
        else:
            days = rng.randint(2, 40) if rng.random() < 0.58 else -1
        if days < 0:
            return "received", None
        resolved = day + dt.timedelta(days=days)
        if resolved > AS_OF:
            return ("in_progress" if (AS_OF - day).days > 5 else "received"), None
        closed = "closed_unfounded" if kind == "complaint" and rng.random() < 0.1 else "resolved"
        return (closed if closed in self.statuses else "resolved"), resolved
