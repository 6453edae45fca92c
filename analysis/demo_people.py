"""Synthetic people: the beneficiaries partners register and the agents and elected officials PRIM 2 trains.

A person is a pure function of (seed, home, index): nothing is kept in memory between their visits, so a million
submissions can bring the same people back across quarters and activities with the same identifiers (what makes
unique-people counting matter) while memory stays flat. Names follow the programme's publics: Moroccans (host
community, returnees, Moroccans living abroad) and third-country nationals, mostly from West and Central Africa.
"""

import random
from dataclasses import dataclass
from functools import lru_cache

from analysis.demo_world import Grant, Institution, Picker, Place, World


def words(text: str, sep: str | None = None) -> tuple[str, ...]:
    """A list of names written as one string (`sep` for names with spaces), kept short to read."""
    return tuple(text.split(sep))


MOROCCAN_WOMEN = words(
    "Fatima Khadija Aicha Meryem Zineb Salma Hajar Naima Samira Latifa Nadia Souad Rachida Imane Hanane "
    "Amina Siham Loubna Malika Najat Sanaa Ikram Kawtar Houda Asmae Btissam Ghizlane Hind Widad Yasmine "
    "Saida Mina Rkia Itto"
)
MOROCCAN_MEN = words(
    "Mohamed Ahmed Youssef Hassan Rachid Said Abdellah Mustapha Omar Khalid Hamid Karim Brahim Driss "
    "Abdelkader Mehdi Hicham Noureddine Aziz Jamal Ayoub Anas Amine Ilyas Hamza Soufiane Zakaria Tarik "
    "Adil Lahcen Mbarek Lhoussaine"
)
MOROCCAN_FAMILY = words(
    "El Amrani|Benali|Alaoui|Bennani|El Idrissi|Tazi|Berrada|Ouahbi|Ait Ouahmane|Boutaleb|El Fassi|"
    "Lahlou|Chraibi|Ziani|Bouzidi|El Khatib|Haddou|Ouazzani|Belhaj|Moussaoui|Azzouzi|Ait Benhaddou|"
    "Oubella|Id Said|Akhiat|Boukhris|Najjar|El Ouali|Mansouri|Kaddouri|Hamdaoui|Saidi|Lamrani|Rifi|"
    "Touzani|Bakkali|Amzil|Ait Lahcen|Ouchen|Bouhlal|Zerhouni|Ait Hammou|Elmoudden|Boujemaa|Oukacha|"
    "Talbi|Hajji|Mernissi",
    sep="|",
)
AFRICAN_WOMEN = words(
    "Aminata Fatoumata Mariama Awa Aissatou Kadiatou Rokia Adama Grace Blessing Esther Mariam Hawa "
    "Nafissatou Marie Christelle Josiane Djeneba Ramatoulaye Chantal Precious Joy Ngozi Fanta Oumou Rose "
    "Sandrine Bintou"
)
AFRICAN_MEN = words(
    "Mamadou Ibrahima Moussa Ousmane Abdoulaye Seydou Boubacar Souleymane Lamine Cheikh Jean Emmanuel "
    "Patrick Serge Christian Samuel Chinedu Emeka Kwame Kofi Idrissa Bakary Modibo Alpha Aliou Yves "
    "Landry Junior"
)
AFRICAN_FAMILY = words(
    "Diallo Traoré Koné Camara Ndiaye Coulibaly Sow Keita Diop Touré Cissé Sylla Bah Barry Diakité "
    "Konaté Sangaré Kouassi Kouamé Yao Mensah Okafor Eze Nwosu Mbaye Fall Sarr Ba Kanté Doumbia Tchamba "
    "Mbarga Nkoulou Mukendi Ilunga Kalala Tshibangu Ouédraogo Sawadogo Kaboré"
)
LEVANT_WOMEN = words("Rania Lina Hiba Reem Nour Dima Yara Ghada")
LEVANT_MEN = words("Ahmad Khaled Firas Bashar Tarek Mahmoud Nabil Wael")
LEVANT_FAMILY = words("Al-Hassan Haddad Khalil Al-Ahmad Darwish Saleh Hamwi Al-Masri Al-Khatib Qassem")

FOREIGN_CODES = {"mre": ("33", "34", "32", "39", "31", "49"), "tcn": ("225", "221", "223", "224", "237", "234")}

PROFILE_MIX = {"tcn": 0.55, "returnee": 0.17, "mre": 0.11, "host": 0.14, "unknown": 0.03}
"""The programme's beneficiaries by profile, overall (R1.3-1's life-of-programme targets: 60 % third-country
nationals); feedback uses it as is, attendance adjusts it per grant."""
GENERAL_PUBLIC = {"tcn": 0.72, "returnee": 0.08, "mre": 0.04, "host": 0.13, "unknown": 0.03}
AGE_BANDS = ((3, 17, 0.07), (18, 24, 0.21), (25, 34, 0.36), (35, 59, 0.32), (60, 82, 0.04))
REFERENCE_YEAR = 2027


@dataclass(frozen=True)
class Focus:
    """What a grant's public looks like: its share of women and its profile mix."""

    women: float
    profiles: Picker


def grant_focus(grant: Grant, label: str) -> Focus:
    """A grant's public, read from its title: women's projects, returnees', the diaspora's, or the general mix."""
    text = label.lower()
    mix = dict(GENERAL_PUBLIC)
    women = 0.44
    if "femme" in text or "féminin" in text:
        women = 0.86
    if "migrantes et de retour" in text:
        mix.update(tcn=0.45, returnee=0.35, host=0.12, mre=0.05)
    elif "de retour" in text:
        mix.update(returnee=0.62, tcn=0.12, host=0.14, mre=0.09)
    elif "mre" in text.split() or "investissement" in text:
        mix.update(mre=0.55, returnee=0.15, tcn=0.08, host=0.19)
    elif "diaspora" in text:
        mix.update(host=0.5, returnee=0.2, mre=0.1, tcn=0.17)
    return Focus(women, Picker(mix))


@dataclass(frozen=True)
class Beneficiary:
    """A person partners register; identifiers stay the same on every visit."""

    first_name: str
    last_name: str
    birth_year: int
    gives_birth_year: bool
    """Some people do not give their birth year (then it is not among their identifiers)."""
    age_known: bool
    phone: str | None
    sex: str
    profile: str
    region: str
    province: str | None
    commune: str | None
    economic: bool
    """On an economic insertion track: comes to economic activities more often."""
    capitals: bool
    """Some staff write this person's family name in capitals on some visits (normalisation must absorb it)."""

    def age_in(self, year: int, rng: random.Random) -> int | None:
        if not self.age_known:
            return None
        return max(0, year - self.birth_year - (1 if rng.random() < 0.45 else 0))


def _names(rng: random.Random, sex: str, origin: str) -> tuple[str, str]:
    women, men, family = {
        "african": (AFRICAN_WOMEN, AFRICAN_MEN, AFRICAN_FAMILY),
        "levant": (LEVANT_WOMEN, LEVANT_MEN, LEVANT_FAMILY),
    }.get(origin, (MOROCCAN_WOMEN, MOROCCAN_MEN, MOROCCAN_FAMILY))
    female = sex == "female" or (sex == "unknown" and rng.random() < 0.5)
    return rng.choice(women if female else men), rng.choice(family)


def moroccan_mobile(rng: random.Random) -> str:
    return rng.choice(("06", "07")) + f"{rng.randrange(10**8):08d}"


def _phone(rng: random.Random, profile: str) -> str | None:
    if rng.random() < 0.24:
        return None
    if profile in FOREIGN_CODES and rng.random() < (0.7 if profile == "mre" else 0.18):
        return "+" + rng.choice(FOREIGN_CODES[profile]) + f"{rng.randrange(10**9):09d}"
    return moroccan_mobile(rng)


def _residence(rng: random.Random, world: World, grant: Grant) -> tuple[str, str | None, str | None]:
    draw = rng.random()
    if draw < 0.68:
        place = grant.centre
    elif draw < 0.88:
        place = rng.choice(world.by_province.get(grant.centre.province, [grant.centre]))
    else:
        place = rng.choice(world.by_region[grant.region])
    gap = rng.random()
    if gap < 0.02:
        return place.region, None, None
    if gap < 0.08:
        return place.region, place.province, None
    return place.region, place.province, place.commune


class Beneficiaries:
    """The people of each grant, derived on demand; recent ones are cached since they come back soon."""

    def __init__(self, world: World, seed: int, focus: dict[str, Focus]) -> None:
        self.world = world
        self.seed = seed
        self.focus = focus
        self.grants = {grant.code: grant for grant in world.grants}
        self.get = lru_cache(maxsize=20_000)(self._derive)

    def _derive(self, grant_code: str, index: int) -> Beneficiary:
        rng = random.Random(f"{self.seed}/beneficiary/{grant_code}/{index}")
        grant, focus = self.grants[grant_code], self.focus[grant_code]
        draw = rng.random()
        sex = "female" if draw < focus.women else ("male" if draw < 0.99 else "unknown")
        profile = focus.profiles(rng)
        origin = "moroccan"
        if profile == "tcn":
            origin = "levant" if rng.random() < 0.12 else "african"
        first, last = _names(rng, sex, origin)
        low, high, _ = rng.choices(AGE_BANDS, weights=[band[2] for band in AGE_BANDS])[0]
        if profile in ("mre", "returnee") and low < 25 and rng.random() < 0.5:
            low, high = 25, 59
        birth_year = REFERENCE_YEAR - rng.randint(low, high)
        region, province, commune = _residence(rng, self.world, grant)
        return Beneficiary(
            first_name=first,
            last_name=last,
            birth_year=birth_year,
            gives_birth_year=rng.random() > 0.04,
            age_known=rng.random() < 0.93,
            phone=_phone(rng, profile),
            sex=sex,
            profile=profile,
            region=region,
            province=province,
            commune=commune,
            economic=rng.random() < 0.1,
            capitals=rng.random() < 0.08,
        )


@dataclass(frozen=True)
class Trainee:
    """An agent or elected official of a public institution, trained by PRIM 2 (possibly in several modules)."""

    first_name: str
    last_name: str
    birth_year: int
    phone: str | None
    sex: str
    institution_type: str
    institution_name: str
    position: str
    workplace: Place
    commune_given: bool
    ability: float
    """How much the person knows before any training, on a logistic scale."""


SERVICES = (
    ("deconcentrated_service", "Délégation provinciale de la santé – {province}"),
    ("deconcentrated_service", "Direction provinciale de l'éducation – {province}"),
    ("public_agency", "Agence ANAPEC – {province}"),
    ("province", "Division de l'action sociale – province de {province}"),
)
POSITIONS = {
    "commune": {"elected": 0.3, "manager": 0.25, "front_office": 0.3, "social_worker": 0.1, "other": 0.05},
    "regional_council": {"elected": 0.45, "manager": 0.4, "other": 0.15},
    "province": {"manager": 0.45, "front_office": 0.25, "social_worker": 0.2, "other": 0.1},
    "deconcentrated_service": {"manager": 0.3, "social_worker": 0.3, "health_worker": 0.3, "front_office": 0.1},
    "public_agency": {"manager": 0.4, "front_office": 0.5, "other": 0.1},
}


class Trainees:
    """The agents and officials of each region, derived on demand like beneficiaries."""

    def __init__(self, world: World, seed: int, province_names: dict[str, str]) -> None:
        self.world = world
        self.seed = seed
        self.province_names = province_names
        self.institutions: dict[str, list[Institution]] = {}
        for institution in world.institutions:
            self.institutions.setdefault(institution.place.region, []).append(institution)
        self.get = lru_cache(maxsize=5_000)(self._derive)

    def _derive(self, region: str, index: int) -> Trainee:
        rng = random.Random(f"{self.seed}/trainee/{region}/{index}")
        sex = "female" if rng.random() < 0.44 else "male"
        first, last = _names(rng, sex, "moroccan")
        draw = rng.random()
        listed = self.institutions.get(region, [])
        if listed and draw < 0.55:
            institution = rng.choice(listed)
            kind, name, place = institution.type, institution.label, institution.place
        elif draw < 0.88:
            place = rng.choice(self.world.by_region[region])
            kind, name = "commune", f"Commune de {self.world.commune_names[place.commune]}"
        else:
            province = rng.choice(sorted({p.province for p in self.world.by_region[region]}))
            place = self.world.by_province[province][0]
            kind, template = rng.choice(SERVICES)
            name = template.format(province=self.province_names.get(province, province))
        positions = POSITIONS.get(kind, {"other": 1.0})
        return Trainee(
            first_name=first,
            last_name=last,
            birth_year=rng.randint(1962, 1999),
            phone=moroccan_mobile(rng) if rng.random() < 0.4 else None,
            sex=sex,
            institution_type="unknown" if rng.random() < 0.01 else kind,
            institution_name=name,
            position=rng.choices(list(positions), weights=list(positions.values()))[0],
            workplace=place,
            commune_given=rng.random() < 0.9,
            ability=rng.gauss(0, 1),
        )
