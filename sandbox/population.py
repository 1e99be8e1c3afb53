"""Deterministic simulated population of leads, built with numpy and materialised one persona at a time.

    pop = Population(n=1000, seed=7, start_ms=...)
    pop.n, pop.seed, pop.start_ms
    pop.owners               -> list[dict]: HubSpot owner objects as GET /crm/v3/owners returns them
    pop.persona(i)           -> Persona (0 <= i < n), cheap, deterministic, built on demand
    pop.personas(indices)    -> list[Persona]
    pop.email(i), pop.mc_email(i) -> str, without building the whole persona
    pop.hubspot_indices      -> sorted int64 array: persona indices that exist as HubSpot contacts
    pop.mailchimp_indices    -> sorted int64 array: persona indices that exist as Mailchimp members
    pop.mailchimp_indices_with_status(status) -> sorted int64 array of members with that initial status
    pop.timestamps(kind)     -> int64 array over all personas: created | updated | mc_signup | mc_last_changed
    pop.fit(), pop.seniority_codes() -> per-persona arrays (job fit in [0, 1]; index into SENIORITIES)
    pop.rng(*tags)           -> numpy Generator seeded by (seed, *tags), for reproducible side streams
    pop.hubspot_id(i)        -> str, the HubSpot contact id of persona i (stable: 100000 + i)
    pop.index_of_hubspot_id(id), pop.index_of_email(email), pop.index_of_subscriber_hash(h) -> int | None
    pop.interest             -> float32 array in [0, 1], one per persona; the simulation drifts it
    pop.drift                -> float32 array: each persona's daily tendency to warm up (> 0) or cool (< 0)

Everything is drawn from (n, seed, start_ms) with vectorised numpy draws, so a 1,000,000-persona world
costs a few tens of bytes per persona and builds in about a second; strings are only made when asked for.

Email messiness is CASE ONLY: about 10% of addresses carry capitals ("Ada.Nguyen12@Acme.io") and ~0.5% of
the people in both systems have a Mailchimp address that differs from their CRM address only in case.
No address has surrounding whitespace: HubSpot and Mailchimp both trim and validate what they store, so
whitespace can only come from imports, which the stores validate, not from the services' own data.
Every address ends its local part with the persona index ("ada.nguyen12@..."), which keeps addresses
unique case-insensitively and lets `index_of_email` find the persona arithmetically.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.timefmt import DAY_MS, hubspot_ts

HUBSPOT_ID_BASE = 100_000
YEAR_MS = 365 * DAY_MS

FIRST = [
    "Ada",
    "Ben",
    "Chloé",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Inès",
    "Jon",
    "Kara",
    "Luis",
    "Maya",
    "Noah",
    "Olivia",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoë",
    "Amara",
    "Bruno",
    "Camille",
    "Diego",
    "Emma",
    "Felix",
    "Gabriela",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Paula",
    "Rahul",
    "Sofia",
    "Tomás",
    "Lukas",
    "Søren",
    "Aisha",
    "Liam",
    "Mei",
    "Omar",
    "Ingrid",
    "Raj",
    "Chen",
    "Fatima",
    "Jakub",
]
LAST = [
    "Nguyen",
    "Smith",
    "Okafor",
    "García",
    "Müller",
    "Rossi",
    "Kim",
    "Dubois",
    "Silva",
    "Cohen",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Martin",
    "Bernard",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Wagner",
    "Patel",
    "Sharma",
    "Singh",
    "Tanaka",
    "Sato",
    "Suzuki",
    "Wang",
    "Li",
    "Zhang",
    "Chen",
    "Hernández",
    "López",
    "González",
    "Pereira",
    "Costa",
    "Novak",
    "Kowalski",
    "Nowak",
    "Jensen",
    "Hansen",
    "O'Brien",
    "Murphy",
    "Kelly",
    "Walsh",
    "Taylor",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Ivanova",
    "Petrov",
    "Haddad",
    "Mansour",
    "Andersson",
    "Larsen",
    "de Vries",
    "Janssen",
    "Bakker",
]

# (title, seniority, fit, weight): fit is how well the persona matches the product's buyer (marketing and
# sales leaders high, engineers and interns low); it steers which links they click.
TITLES = [
    ("CEO", "executive", 0.7, 2),
    ("Founder", "executive", 0.7, 2),
    ("CMO", "executive", 1.0, 1.5),
    ("COO", "executive", 0.5, 1),
    ("VP of Marketing", "vp", 1.0, 2.5),
    ("VP of Sales", "vp", 0.8, 2),
    ("VP of Engineering", "vp", 0.3, 1),
    ("Head of Growth", "director", 0.95, 3),
    ("Director of Demand Generation", "director", 1.0, 2.5),
    ("Sales Director", "director", 0.75, 2.5),
    ("Marketing Director", "director", 0.95, 2.5),
    ("Marketing Manager", "manager", 0.85, 8),
    ("Growth Marketing Manager", "manager", 0.9, 4),
    ("Product Marketing Manager", "manager", 0.75, 4),
    ("Sales Manager", "manager", 0.65, 4),
    ("Engineering Manager", "manager", 0.25, 2),
    ("Marketing Specialist", "individual", 0.7, 8),
    ("Content Strategist", "individual", 0.6, 5),
    ("Sales Development Representative", "individual", 0.55, 6),
    ("Account Executive", "individual", 0.55, 6),
    ("Marketing Operations Analyst", "individual", 0.75, 4),
    ("Data Analyst", "individual", 0.35, 4),
    ("Software Engineer", "individual", 0.15, 7),
    ("Designer", "individual", 0.3, 3),
    ("Marketing Intern", "intern", 0.3, 3),
    ("Engineering Intern", "intern", 0.1, 2),
]
SENIORITIES = ("executive", "vp", "director", "manager", "individual", "intern")

# industry -> words a company in it tends to be named with
INDUSTRIES = {
    "software": ["Software", "Labs", "Systems", "Cloud", "AI"],
    "retail": ["Goods", "Outfitters", "Market", "Stores"],
    "healthcare": ["Health", "Medical", "Care", "Clinics"],
    "finance": ["Capital", "Financial", "Payments", "Insurance"],
    "education": ["Learning", "Academy", "Education"],
    "manufacturing": ["Manufacturing", "Industries", "Works"],
    "marketing": ["Media", "Creative", "Agency"],
    "logistics": ["Logistics", "Freight", "Shipping"],
}
INDUSTRY_NAMES = list(INDUSTRIES)
INDUSTRY_WEIGHTS = [30, 12, 10, 12, 8, 10, 12, 6]
NAME_STEMS = [
    "North",
    "Blue",
    "Bright",
    "Silver",
    "Iron",
    "Green",
    "Red",
    "Clear",
    "Swift",
    "Stone",
    "Sun",
    "Oak",
    "Pine",
    "River",
    "Cloud",
    "Peak",
    "Star",
    "Bay",
    "Lake",
    "Summit",
]
NAME_ENDS = [
    "wind",
    "field",
    "path",
    "bridge",
    "gate",
    "works",
    "line",
    "point",
    "stack",
    "forge",
    "wave",
    "leaf",
    "light",
    "haven",
    "crest",
    "ridge",
    "port",
    "view",
    "spring",
    "mark",
]

# country -> (weight, tld, legal suffix, cities, phone number from d: the 10 digits of a seeded 32-bit number).
# Phone numbers sit in ranges reserved for fiction where the country has one (US/CA 555, UK 020 7946 0).
COUNTRIES = {
    "United States": (
        40,
        "com",
        " Inc.",
        ["New York", "San Francisco", "Austin", "Chicago", "Boston", "Seattle", "Denver", "Atlanta"],
        lambda d: f"+1 {212 + int(d[:3]) % 700}-555-{d[-4:]}",
    ),
    "United Kingdom": (
        12,
        "co.uk",
        " Ltd",
        ["London", "Manchester", "Edinburgh", "Bristol"],
        lambda d: f"+44 20 7946 0{d[-3:]}",
    ),
    "Germany": (9, "de", " GmbH", ["Berlin", "Munich", "Hamburg", "Cologne"], lambda d: f"+49 30 {d[-8:]}"),
    "France": (
        7,
        "fr",
        " SAS",
        ["Paris", "Lyon", "Marseille", "Toulouse"],
        lambda d: f"+33 1 {d[2:4]} {d[4:6]} {d[6:8]} {d[8:]}",
    ),
    "Canada": (
        7,
        "ca",
        " Inc.",
        ["Toronto", "Vancouver", "Montreal"],
        lambda d: f"+1 {212 + int(d[:3]) % 700}-555-{d[-4:]}",
    ),
    "Australia": (5, "com.au", " Pty Ltd", ["Sydney", "Melbourne", "Brisbane"], lambda d: f"+61 2 {d[2:6]} {d[6:]}"),
    "Netherlands": (4, "nl", " B.V.", ["Amsterdam", "Rotterdam", "Utrecht"], lambda d: f"+31 20 {d[3:6]} {d[6:]}"),
    "Spain": (4, "es", " S.L.", ["Madrid", "Barcelona", "Valencia"], lambda d: f"+34 91 {d[3:6]} {d[6:8]} {d[8:]}"),
    "India": (7, "in", " Pvt Ltd", ["Bengaluru", "Mumbai", "Pune"], lambda d: f"+91 80 {d[2:6]} {d[6:]}"),
    "Brazil": (5, "com.br", " Ltda", ["São Paulo", "Rio de Janeiro"], lambda d: f"+55 11 {d[2:6]}-{d[6:]}"),
}
COUNTRY_NAMES = list(COUNTRIES)
# the phone numbers above, from the 32-bit number itself rather than its 10 digits as text (parsing a slice
# back to int dominated building a contact); checked against COUNTRIES below
_PHONES = {
    "United States": lambda n: f"+1 {212 + n // 10_000_000 % 700}-555-{n % 10_000:04d}",
    "United Kingdom": lambda n: f"+44 20 7946 0{n % 1000:03d}",
    "Germany": lambda n: f"+49 30 {n % 100_000_000:08d}",
    "France": lambda n: f"+33 1 {n // 1_000_000 % 100:02d} {n // 10_000 % 100:02d} {n // 100 % 100:02d} {n % 100:02d}",
    "Canada": lambda n: f"+1 {212 + n // 10_000_000 % 700}-555-{n % 10_000:04d}",
    "Australia": lambda n: f"+61 2 {n // 10_000 % 10_000:04d} {n % 10_000:04d}",
    "Netherlands": lambda n: f"+31 20 {n // 10_000 % 1000:03d} {n % 10_000:04d}",
    "Spain": lambda n: f"+34 91 {n // 10_000 % 1000:03d} {n // 100 % 100:02d} {n % 100:02d}",
    "India": lambda n: f"+91 80 {n // 10_000 % 10_000:04d} {n % 10_000:04d}",
    "Brazil": lambda n: f"+55 11 {n // 10_000 % 10_000:04d}-{n % 10_000:04d}",
}
assert list(_PHONES) == COUNTRY_NAMES and all(
    _PHONES[c](n) == COUNTRIES[c][4](f"{n:010d}")
    for c in COUNTRY_NAMES
    for n in (0, 7, 1_234_567_890, 987_654_321, 2**32 - 1, 4_200_000_000 + 12_345)
)
_COUNTRY_CITIES_PHONE = [(v[3], _PHONES[c]) for c, v in COUNTRIES.items()]  # by country code, for crm_contact
FREE_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com"]

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
STAGE_WEIGHTS = (0.52, 0.33, 0.07, 0.04, 0.02, 0.015, 0.005)
STAGE_INTEREST_BOOST = (0.0, 0.03, 0.15, 0.2, 0.25, 0.1, 0.1)
MC_STATUSES = ("subscribed", "unsubscribed", "cleaned")
MC_STATUS_WEIGHTS = (0.92, 0.06, 0.02)

OWNER_NAMES = [
    ("Sarah", "Chen"),
    ("Marcus", "Reed"),
    ("Julia", "Novak"),
    ("Daniel", "Okoye"),
    ("Emily", "Carter"),
    ("Tom", "Becker"),
    ("Priya", "Nair"),
    ("Lucas", "Moreau"),
]
OWNER_DOMAIN = "example-saas.com"
NO_OWNER_SHARE = 0.08
CONSENT_SHARE = 0.85
MC_ONLY_SHARE, HS_ONLY_SHARE = 0.10, 0.10
CASE_DIFF_SHARE = 0.005  # of the personas in both systems
CASE_STYLE_WEIGHTS = (0.90, 0.08, 0.02)  # lower, Title, UPPER

_ROW = np.dtype(
    [
        ("first", "u2"),
        ("last", "u2"),
        ("title", "u1"),
        ("company", "u4"),
        ("country", "u1"),
        ("city", "u1"),
        ("phone", "u4"),
        ("owner", "i1"),
        ("local_style", "u1"),
        ("free_domain", "i1"),
        ("case", "u1"),
        ("mc_case", "u1"),
        ("consent", "?"),
        ("in_hs", "?"),
        ("in_mc", "?"),
        ("mc_status", "u1"),
        ("stage", "u1"),
        ("created", "i8"),
        ("updated", "i8"),
        ("signup", "i8"),
        ("changed", "i8"),
    ]
)
# the same layout as _ROW (packed, little-endian): one row unpacks in ~0.2 us, against ~1.5 us for
# `array[i].item()`, which builds a numpy scalar first; persona() runs 100 times per contact page
_ROW_STRUCT = struct.Struct("<HHBIBBIbBbBB???BBqqqq")
assert _ROW_STRUCT.size == _ROW.itemsize
_COMPANY = np.dtype(
    [("stem", "u1"), ("end", "u1"), ("kind", "u1"), ("industry", "u1"), ("country", "u1"), ("size", "i4")]
)
_ASCII_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "'": "", " ": ""})
_TRAILING_INDEX = re.compile(r"(0|[1-9][0-9]*)$")


def _ascii(name: str) -> str:
    """Lowercase ASCII form of a name for an email address ("Søren" -> "soren", "O'Brien" -> "obrien")."""
    folded = unicodedata.normalize("NFKD", name.translate(_ASCII_FOLD))
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


_FIRST_ASCII = [_ascii(s) for s in FIRST]
_LAST_ASCII = [_ascii(s) for s in LAST]
# the local part of an address before the index, for each (style, first, last): "ada.nguyen", "anguyen",
# "ada", "ada_nguyen", "nguyen.ada"; the index that follows keeps every address unique
_STEMS = [
    (f"{f}.{s}", f"{f[0]}{s}", f, f"{f}_{s}", f"{s}.{f}")[style]
    for style in range(5)
    for f in _FIRST_ASCII
    for s in _LAST_ASCII
]


@dataclass(frozen=True)
class Persona:
    index: int
    firstname: str
    lastname: str
    email: str  # as the CRM holds it (may carry capitals)
    mc_email: str  # as the Mailchimp audience holds it (may differ from `email` only in case)
    jobtitle: str
    seniority: str  # executive | vp | director | manager | individual | intern
    company: str
    company_size: int  # employees, 1..50,000
    industry: str
    country: str
    owner_id: str | None  # HubSpot owner id, None for ~8% of contacts
    consent: bool  # marketing consent recorded in the CRM
    in_hubspot: bool
    in_mailchimp: bool
    mc_status: str  # subscribed | unsubscribed | cleaned (meaningful when in_mailchimp)
    created_ms: int  # CRM createdate, within the year before start_ms
    lifecyclestage: str  # initial CRM stage
    updated_ms: int  # CRM lastmodifieddate before any write: created_ms <= updated_ms <= start_ms
    mc_signup_ms: int  # Mailchimp timestamp_signup
    mc_last_changed_ms: int  # Mailchimp last_changed: mc_signup_ms <= it <= start_ms
    phone: str
    city: str
    fit: float  # how well the job matches the product's buyer, in [0, 1]

    @classmethod
    def _of(cls, values: dict[str, Any]) -> Persona:
        """Build from a dict of already-typed values without the generated __init__, which assigns each of
        the 24 fields through object.__setattr__ (frozen) and so costs about half of building a persona;
        pages of 100 contacts build 100 personas per request. (A plain dict, not **kwargs: unpacking 24
        keyword arguments costs more than the rest of the call.)"""
        persona = object.__new__(cls)
        persona.__dict__.update(values)
        return persona


def _weights(values: Iterable[float]) -> np.ndarray:
    w = np.asarray(list(values), dtype=np.float64)
    return w / w.sum()


def _apply_case(address: str, style: int) -> str:
    """style 0 = as is (lowercase), 1 = Title ("Ada.Nguyen12@Acme.io"), 2 = UPPER."""
    if style == 0:
        return address
    if style == 2:
        return address.upper()
    local, _, domain = address.partition("@")
    local = re.sub(r"(^|[._])([a-z])", lambda m: m.group(1) + m.group(2).upper(), local)
    return f"{local}@{domain[:1].upper()}{domain[1:]}"


_TITLE_STEMS: dict[str, str] = {}  # stem -> its Title-case form (at most len(_STEMS) entries)


def _crm_address(stem: str, i: int, domain: str, style: int) -> str:
    """_apply_case(f"{stem}{i}@{domain}", style), with the Title-cased stem cached: the digits that follow
    a stem take no capital and a stem never ends in "." or "_", so casing the stem alone is the same."""
    if style == 0:
        return f"{stem}{i}@{domain}"
    if style == 2:
        return f"{stem}{i}@{domain}".upper()
    titled = _TITLE_STEMS.get(stem)
    if titled is None:
        titled = _TITLE_STEMS[stem] = _apply_case(f"{stem}@x", 1).partition("@")[0]
    return f"{titled}{i}@{domain[:1].upper()}{domain[1:]}"


class Population:
    """n personas drawn from (n, seed, start_ms); see the module docstring for the interface."""

    def __init__(self, n: int, seed: int = 1, start_ms: int = 0) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        self.n, self.seed, self.start_ms = int(n), int(seed), int(start_ms)
        self._fit: np.ndarray | None = None
        rng = self.rng(self.n, 0x50505)
        self.owners = self._draw_owners(rng)
        self._companies = self._draw_companies(rng, max(1, self.n // 6))
        self._company_info, self._company_domains = self._company_strings()
        self._rows = self._draw_rows(rng)
        # for per-persona reads without numpy scalars: the rows as bytes (a view, no copy) and the
        # CRM membership flags (a 1-byte-per-persona copy: a field of a structured array is strided)
        self._row_bytes = memoryview(self._rows.view(np.uint8))
        self._in_hs = memoryview(self._rows["in_hs"].copy().view(np.uint8))
        self.hubspot_indices = np.flatnonzero(self._rows["in_hs"]).astype(np.int64)
        self.mailchimp_indices = np.flatnonzero(self._rows["in_mc"]).astype(np.int64)
        self.interest, self.drift = self._draw_interest(rng)
        # built on the first index_of_subscriber_hash
        self._hash_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def rng(self, *tags: int) -> np.random.Generator:
        """A generator seeded by (seed, *tags): independent, reproducible streams for each purpose."""
        return np.random.default_rng(np.random.SeedSequence([self.seed & 0xFFFF_FFFF_FFFF_FFFF, *tags]))

    # -- drawing -------------------------------------------------------------------------------
    def _draw_owners(self, rng: np.random.Generator) -> list[dict]:
        count = int(rng.integers(5, 9))  # 5..8 sales reps
        picks = rng.choice(len(OWNER_NAMES), size=count, replace=False)
        ids: list[int] = []
        while len(ids) < count:  # distinct 8-digit ids, like HubSpot's
            oid = int(rng.integers(10_000_000, 100_000_000))
            ids += [] if oid in ids else [oid]
        created = hubspot_ts(self.start_ms - 2 * YEAR_MS)
        owners = []
        for k, (pick, oid) in enumerate(zip(picks, ids)):
            first, last = OWNER_NAMES[int(pick)]
            owners.append(
                {
                    "id": str(int(oid)),
                    "email": f"{first.lower()}.{last.lower()}@{OWNER_DOMAIN}",
                    "firstName": first,
                    "lastName": last,
                    "userId": 7_000_000 + int(oid) % 1_000_000,
                    "userIdIncludingInactive": 7_000_000 + int(oid) % 1_000_000,
                    "type": "PERSON",
                    "teams": [{"id": "4100", "name": "Sales", "primary": True}],
                    "archived": False,
                    "createdAt": created,
                    "updatedAt": hubspot_ts(self.start_ms - (k + 1) * 30 * DAY_MS),
                }
            )
        return owners

    def _draw_companies(self, rng: np.random.Generator, m: int) -> np.ndarray:
        c = np.zeros(m, dtype=_COMPANY)
        c["stem"] = rng.integers(0, len(NAME_STEMS), m)
        c["end"] = rng.integers(0, len(NAME_ENDS), m)
        c["industry"] = rng.choice(len(INDUSTRY_NAMES), size=m, p=_weights(INDUSTRY_WEIGHTS))
        c["kind"] = rng.integers(0, 255, m)  # reduced modulo the industry's word list when named
        c["country"] = rng.choice(len(COUNTRY_NAMES), size=m, p=_weights(v[0] for v in COUNTRIES.values()))
        # log-normal: most companies are small, a long tail reaches the 50,000 cap
        c["size"] = np.clip(np.rint(rng.lognormal(np.log(60.0), 1.9, m)), 1, 50_000)
        return c

    def _company_strings(self) -> tuple[list[tuple[str, int, str]], list[str]]:
        """(name, size, industry) and web domain of each company (~n/6 entries each)."""
        info, domains = [], []
        for stem, end, kind, industry, country, size in self._companies.tolist():
            words = INDUSTRIES[INDUSTRY_NAMES[industry]]
            word = words[kind % len(words)]
            _, tld, legal, _, _ = COUNTRIES[COUNTRY_NAMES[country]]
            base = NAME_STEMS[stem] + NAME_ENDS[end]
            info.append((f"{base} {word}{legal}", size, INDUSTRY_NAMES[industry]))
            domains.append(f"{base.lower()}{word.lower()}.{tld}")
        return info, domains

    def _draw_rows(self, rng: np.random.Generator) -> np.ndarray:
        n, m = self.n, len(self._companies)
        r = np.zeros(n, dtype=_ROW)
        r["first"] = rng.integers(0, len(FIRST), n)
        r["last"] = rng.integers(0, len(LAST), n)
        r["title"] = rng.choice(len(TITLES), size=n, p=_weights(t[3] for t in TITLES))
        # skewed: low company numbers collect many contacts, most companies have one or two
        r["company"] = np.minimum((m * rng.random(n) ** 2.2).astype(np.int64), m - 1)
        home = self._companies["country"][r["company"]]
        abroad = rng.random(n) < 0.1  # people working away from the company's home country
        r["country"] = np.where(abroad, rng.integers(0, len(COUNTRY_NAMES), n), home)
        r["city"] = rng.integers(0, 255, n)  # reduced modulo the country's city list when named
        r["phone"] = rng.integers(0, 2**32, n, dtype=np.uint64)
        owner = rng.choice(len(self.owners), size=n, p=rng.dirichlet(np.full(len(self.owners), 4.0)))
        r["owner"] = np.where(rng.random(n) < NO_OWNER_SHARE, -1, owner)
        r["local_style"] = rng.choice(5, size=n, p=[0.55, 0.2, 0.1, 0.1, 0.05])
        r["free_domain"] = np.where(rng.random(n) < 0.15, rng.integers(0, len(FREE_DOMAINS), n), -1)
        r["case"] = rng.choice(3, size=n, p=CASE_STYLE_WEIGHTS)
        r["consent"] = rng.random(n) < CONSENT_SHARE
        where = rng.random(n)
        r["in_hs"] = where >= MC_ONLY_SHARE
        r["in_mc"] = where < 1.0 - HS_ONLY_SHARE
        both = r["in_hs"] & r["in_mc"]
        case_diff = both & (rng.random(n) < CASE_DIFF_SHARE)
        # a case-only difference: lowercase in Mailchimp when the CRM has capitals, Title case otherwise
        r["mc_case"] = np.where(case_diff, np.where(r["case"] == 0, 1, 0), r["case"])
        r["mc_status"] = rng.choice(3, size=n, p=MC_STATUS_WEIGHTS)
        r["stage"] = rng.choice(len(LIFECYCLE_STAGES), size=n, p=_weights(STAGE_WEIGHTS))
        self._draw_times(rng, r, both)
        return r

    def _draw_times(self, rng: np.random.Generator, r: np.ndarray, both: np.ndarray) -> None:
        n, start = self.n, self.start_ms
        created = start - (rng.random(n) * YEAR_MS).astype(np.int64)
        r["created"] = created
        r["updated"] = created + (rng.random(n) * (start - created)).astype(np.int64)
        # people in both systems signed up to the newsletter around the time the CRM record appeared
        own = start - (rng.random(n) * YEAR_MS).astype(np.int64)
        near = created + (rng.normal(0.0, 10.0, n) * DAY_MS).astype(np.int64)
        signup = np.clip(np.where(both, near, own), start - YEAR_MS, start)
        r["signup"] = signup
        r["changed"] = signup + (rng.random(n) * (start - signup)).astype(np.int64)

    def _draw_interest(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        boost = np.asarray(STAGE_INTEREST_BOOST, dtype=np.float64)[self._rows["stage"]]
        fit = self.fit()
        base = rng.beta(1.6, 3.5, self.n) + boost + 0.1 * (fit - 0.5)
        interest = np.clip(base, 0.0, 1.0).astype(np.float32)
        # per day: most personas hover, a fifth warm up and a fifth cool down over the weeks
        drift = rng.normal(0.0, 0.0015, self.n)
        trend = rng.random(self.n)
        drift += np.where(trend < 0.2, 0.006, np.where(trend > 0.8, -0.006, 0.0))
        return interest, drift.astype(np.float32)

    # -- building one persona ------------------------------------------------------------------
    def _lower_email(self, first: int, last: int, company: int, style: int, free: int, i: int) -> str:
        stem = _STEMS[(style * len(FIRST) + first) * len(LAST) + last]
        domain = FREE_DOMAINS[free] if free >= 0 else self._company_domains[company]
        return f"{stem}{i}@{domain}"

    def _check(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.n:
            raise IndexError(f"persona index {i} out of range 0..{self.n - 1}")
        return i

    def _row(self, i: int) -> tuple:
        """The raw fields of row i (already range-checked), in _ROW order."""
        return _ROW_STRUCT.unpack_from(self._row_bytes, i * _ROW_STRUCT.size)

    def _address(self, i: int) -> tuple[str, int, int]:
        """(lowercase address, CRM case style, Mailchimp case style) of persona i (already range-checked)."""
        first, last, _, company, _, _, _, _, style, free, case, mc_case = self._row(i)[:12]
        return self._lower_email(first, last, company, style, free, i), case, mc_case

    def email(self, i: int) -> str:
        """The CRM email of persona i. Raises IndexError outside 0..n-1."""
        lower, case, _ = self._address(self._check(i))
        return _apply_case(lower, case)

    def mc_email(self, i: int) -> str:
        """The Mailchimp email of persona i. Raises IndexError outside 0..n-1."""
        lower, _, mc_case = self._address(self._check(i))
        return _apply_case(lower, mc_case)

    def persona(self, i: int) -> Persona:
        """Persona i, built from the arrays (a few microseconds). Raises IndexError outside 0..n-1."""
        i = self._check(i)
        (
            first,
            last,
            title,
            company,
            country,
            city,
            phone,
            owner,
            local_style,
            free,
            case,
            mc_case,
            consent,
            in_hs,
            in_mc,
            mc_status,
            stage,
            created,
            updated,
            signup,
            changed,
        ) = self._row(i)
        stem = _STEMS[(local_style * len(FIRST) + first) * len(LAST) + last]
        domain = FREE_DOMAINS[free] if free >= 0 else self._company_domains[company]
        email = _crm_address(stem, i, domain, case)
        jobtitle, seniority, fit, _ = TITLES[title]
        country_name = COUNTRY_NAMES[country]
        cities, phone_of = _COUNTRY_CITIES_PHONE[country]
        company_name, size, industry = self._company_info[company]
        return Persona._of(
            {
                "index": i,
                "firstname": FIRST[first],
                "lastname": LAST[last],
                "email": email,
                "mc_email": email if mc_case == case else _crm_address(stem, i, domain, mc_case),
                "jobtitle": jobtitle,
                "seniority": seniority,
                "company": company_name,
                "company_size": size,
                "industry": industry,
                "country": country_name,
                "owner_id": self.owners[owner]["id"] if owner >= 0 else None,
                "consent": consent,
                "in_hubspot": in_hs,
                "in_mailchimp": in_mc,
                "mc_status": MC_STATUSES[mc_status],
                "created_ms": created,
                "lifecyclestage": LIFECYCLE_STAGES[stage],
                "updated_ms": updated,
                "mc_signup_ms": signup,
                "mc_last_changed_ms": changed,
                "phone": phone_of(phone),
                "city": cities[city % len(cities)],
                "fit": fit,
            }
        )

    def crm_contact(self, i: int) -> tuple | None:
        """Persona i's CRM record as (email, firstname, lastname, jobtitle, company, company_size, phone, city,
        country, industry, owner_id, consent, lifecyclestage, seniority, created_ms, updated_ms), the same values
        as persona(i) holds, or None when the persona is not a HubSpot contact. Raises IndexError outside 0..n-1.

        The hot path of contact pages (100 per request): no Persona, no Mailchimp fields."""
        i = self._check(i)
        (
            first,
            last,
            title,
            company,
            country,
            city,
            phone,
            owner,
            local_style,
            free,
            case,
            _,
            consent,
            in_hs,
            _,
            _,
            stage,
            created,
            updated,
            _,
            _,
        ) = _ROW_STRUCT.unpack_from(self._row_bytes, i * _ROW_STRUCT.size)
        if not in_hs:
            return None
        stem = _STEMS[(local_style * len(FIRST) + first) * len(LAST) + last]
        domain = FREE_DOMAINS[free] if free >= 0 else self._company_domains[company]
        title_row = TITLES[title]
        country_name = COUNTRY_NAMES[country]
        cities, phone_of = _COUNTRY_CITIES_PHONE[country]
        company_name, size, industry = self._company_info[company]
        return (
            _crm_address(stem, i, domain, case),
            FIRST[first],
            LAST[last],
            title_row[0],
            company_name,
            size,
            phone_of(phone),
            cities[city % len(cities)],
            country_name,
            industry,
            self.owners[owner]["id"] if owner >= 0 else None,
            consent,
            LIFECYCLE_STAGES[stage],
            title_row[1],
            created,
            updated,
        )

    def personas(self, indices: Iterable[int]) -> list[Persona]:
        """Personas for each index, in order. Raises IndexError on an index outside 0..n-1."""
        return [self.persona(i) for i in indices]

    def fit(self) -> np.ndarray:
        """float64 array (shared, do not modify): each persona's job fit in [0, 1] (see TITLES)."""
        if self._fit is None:
            self._fit = np.asarray([t[2] for t in TITLES])[self._rows["title"]]
        return self._fit

    def seniority_codes(self) -> np.ndarray:
        """uint8 array: index into SENIORITIES of each persona's seniority."""
        codes = np.asarray([SENIORITIES.index(t[1]) for t in TITLES], dtype=np.uint8)
        return codes[self._rows["title"]]

    def timestamps(self, kind: str) -> np.ndarray:
        """int64 epoch ms of every persona (read-only, indexed by persona): kind is created | updated |
        mc_signup | mc_last_changed. Raises KeyError for another kind."""
        column = {"created": "created", "updated": "updated", "mc_signup": "signup", "mc_last_changed": "changed"}
        view = self._rows[column[kind]].view()
        view.flags.writeable = False
        return view

    def mailchimp_indices_with_status(self, status: str) -> np.ndarray:
        """Sorted int64 indices of the members whose initial status is `status`; ValueError if unknown."""
        code = MC_STATUSES.index(status)
        rows = self._rows
        return np.flatnonzero(rows["in_mc"] & (rows["mc_status"] == code)).astype(np.int64)

    # -- lookups -------------------------------------------------------------------------------
    def hubspot_id(self, i: int) -> str:
        return str(HUBSPOT_ID_BASE + int(i))

    def index_of_hubspot_id(self, contact_id: str) -> int | None:
        """The persona whose HubSpot contact id this is, or None (not a number, out of range, not a contact)."""
        s = str(contact_id)
        if not s.isdigit() or len(s) > 18:
            return None
        i = int(s) - HUBSPOT_ID_BASE
        if not 0 <= i < self.n or not self._in_hs[i]:
            return None
        return i

    def index_of_email(self, email: str) -> int | None:
        """The persona whose CRM or Mailchimp email this is, compared case-insensitively, or None.

        Whether the persona is a contact or a member is the caller's question (see in_hubspot/in_mailchimp).
        """
        s = str(email).strip().lower()
        local, at, _ = s.rpartition("@")
        found = _TRAILING_INDEX.search(local) if at else None
        if found is None or len(found.group(1)) > 18:
            return None
        i = int(found.group(1))
        if not 0 <= i < self.n:
            return None
        return i if self._address(i)[0] == s else None

    def index_of_subscriber_hash(self, subscriber_hash: str) -> int | None:
        """The persona whose md5(lowercased Mailchimp email) this is, or None.

        The first call hashes every persona's address (about 1-2 s per million) into digests sorted by
        their first 8 bytes (16 bytes a persona); later calls are one binary search.
        """
        h = str(subscriber_hash).strip().lower()
        if len(h) != 32:
            return None
        try:
            high, low = int(h[:16], 16), int(h[16:], 16)
        except ValueError:
            return None
        if self._hash_index is None:
            self._hash_index = self._build_hash_index()
        highs, lows, order = self._hash_index
        pos = int(highs.searchsorted(np.uint64(high)))
        while pos < len(highs) and int(highs[pos]) == high:
            if int(lows[pos]) == low:
                return int(order[pos])
            pos += 1
        return None

    def _build_hash_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first 8 digest bytes, last 8, persona index), sorted by the first 8 bytes."""
        rows, n_free = self._rows, len(FREE_DOMAINS)
        stems = (rows["local_style"].astype(np.int64) * len(FIRST) + rows["first"]) * len(LAST) + rows["last"]
        domains = FREE_DOMAINS + self._company_domains
        where = np.where(rows["free_domain"] >= 0, rows["free_domain"], n_free + rows["company"].astype(np.int64))
        md5 = hashlib.md5
        digests = b"".join(
            md5(f"{_STEMS[s]}{i}@{domains[d]}".encode()).digest()
            for i, (s, d) in enumerate(zip(stems.tolist(), where.tolist()))
        )
        halves = np.frombuffer(digests, dtype=">u8").astype(np.uint64).reshape(-1, 2)
        order = np.argsort(halves[:, 0], kind="stable")
        return halves[order, 0].copy(), halves[order, 1].copy(), order.astype(np.int64)
