"""`syncd check`: whether everything a run needs is in place, checked without writing anything anywhere.

Each check is one line: `ok`, `FAIL` with what to fix, `skip` (an earlier failure leaves nothing to check
it against) or `note` (true of every run, and impossible to check without writing). HubSpot scopes are
checked by the harmless read that needs each one; a refused read names the scope HubSpot's 403 says is
missing. Write scopes cannot be exercised by a read, and the token-introspection endpoint HubSpot offers
private apps is a POST that Service Keys are not documented to answer, so they are listed, not checked.

Nothing is opened but the two APIs: no database (SQLite would create its file), no clock, and the
connectors are their read sides only (`HubSpotSource`, `MailchimpSource`), so no write can be sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from contracts.errors import ConnectorError
from syncd.failures import explain

T = TypeVar("T")

STATUSES = ("ok", "fail", "skip", "note")
_LABEL = {"ok": "ok", "fail": "FAIL", "skip": "skip", "note": "note"}

CONTACTS_READ, CONTACTS_WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"
SCHEMAS_READ, SCHEMAS_WRITE = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
OWNERS_READ = "crm.objects.owners.read"
# The scopes syncd needs and what each is for (the README lists the same).
SCOPES = {
    CONTACTS_READ: "read contacts (pages, search, batch reads) and the tasks and notes on them",
    SCHEMAS_READ: "read the contact property definitions (mapped fields, consent, lifecycle stages)",
    OWNERS_READ: "read the owners hand-off tasks are assigned to",
    CONTACTS_WRITE: "update contacts (syncd's properties, lifecycle stage) and create tasks and notes",
    SCHEMAS_WRITE: "create the syncd property group and syncd's properties on the first run",
}
WHERE = "on the Service Key or the private app in HubSpot (see the README)"
CHECK_ATTEMPTS = 2  # one retry for a passing 429 or 5xx; an unreachable service fails within seconds
CHECK_BUDGET_S = 15.0


@dataclass(frozen=True)
class Check:
    name: str  # stable id ("hubspot.owners")
    title: str  # what is checked, for a person
    status: str  # one of STATUSES
    detail: str = ""  # the finding; for a failure, what to fix

    def line(self) -> str:
        return f"{_LABEL[self.status]:<5} {self.title}" + (f": {self.detail}" if self.detail else "")


def render(checks: list[Check]) -> str:
    """One line per check."""
    return "\n".join(c.line() for c in checks)


def report(checks: list[Check]) -> dict[str, Any]:
    """What `syncd check --json` prints: {"ok": no check failed, "checks": [{name, title, status, detail}]}."""
    return {"ok": not failed(checks), "checks": [asdict(c) for c in checks]}


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail"]


class _Outcome:
    """The result of one read: its value, or the ConnectorError it ended in."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: ConnectorError | None = None
        try:
            self.value = fn()
        except ConnectorError as exc:
            self.error = exc


def _retry_briefly(fn: Callable[[], T], *, on_retry: Any = None) -> T:
    from syncd.retrying import retry_call

    return retry_call(fn, attempts=CHECK_ATTEMPTS, max_total_s=CHECK_BUDGET_S, on_retry=on_retry)


def run_checks(settings: Any) -> list[Check]:
    """Every check, in order: the config files, HubSpot, Mailchimp, then the schemas the mappings need.
    Sends only GET requests and one contact search. Raises nothing for what it checks."""
    from syncd.logs import configure_logging

    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    checks, mappings = _config_files(settings)
    props, hubspot = _hubspot(settings)
    fields, mailchimp = _mailchimp(settings)
    checks += hubspot
    checks += _write_scopes()
    checks += _hubspot_schema(mappings, props)
    checks += mailchimp
    checks += _merge_fields(mappings, fields)
    return checks


# -- the files ------------------------------------------------------------------------------------------------
def _config_files(settings: Any) -> tuple[list[Check], Any]:
    from syncd.mappings import MappingsError, load_mappings
    from syncd.rules import RulesError, load_rules

    paths = settings.config.paths
    checks: list[Check] = []
    mappings = None
    try:
        mappings = load_mappings(paths.mappings)
        checks.append(Check("config.mappings", f"mappings file {paths.mappings}", "ok", "valid"))
    except MappingsError as exc:
        checks.append(Check("config.mappings", f"mappings file {paths.mappings}", "fail", "; ".join(exc.problems)))
    try:
        load_rules(paths.scoring)
        checks.append(Check("config.scoring", f"scoring rules {paths.scoring}", "ok", "valid"))
    except RulesError as exc:
        problems = getattr(exc, "problems", None) or [str(exc)]
        checks.append(Check("config.scoring", f"scoring rules {paths.scoring}", "fail", "; ".join(problems)))
    return checks, mappings


# -- HubSpot ------------------------------------------------------------------------------------------------
def _hubspot_source(settings: Any) -> Any:
    from connectors.errors import CallStats
    from connectors.hubspot.client import make_hubspot_client
    from connectors.hubspot.source import HubSpotSource
    from connectors.limiter import HubSpotBudget

    cfg = settings.config
    return HubSpotSource(
        make_hubspot_client(settings.hubspot_access_token.get_secret_value(), settings.hubspot_base_url),
        CallStats(),
        retry=_retry_briefly,
        budget=HubSpotBudget(
            burst=round(cfg.hubspot_tier * cfg.rate_scale), search_per_s=max(1, round(4 * cfg.rate_scale))
        ),
    )


_HUBSPOT_READS = (
    ("hubspot.contacts", f"HubSpot reads contacts ({CONTACTS_READ})"),
    ("hubspot.search", f"HubSpot searches contacts ({CONTACTS_READ})"),
    ("hubspot.properties", f"HubSpot reads contact properties ({SCHEMAS_READ})"),
    ("hubspot.owners", f"HubSpot reads owners ({OWNERS_READ})"),
    ("hubspot.tasks", f"HubSpot reads tasks and a contact's tasks ({CONTACTS_READ})"),
    ("hubspot.notes", f"HubSpot reads notes and a contact's notes ({CONTACTS_READ})"),
)
_HUBSPOT_WRITES = (
    ("hubspot.contacts_write", CONTACTS_WRITE, "needed to " + SCOPES[CONTACTS_WRITE]),
    (
        "hubspot.schemas_write",
        SCHEMAS_WRITE,
        "needed to " + SCOPES[SCHEMAS_WRITE] + " (and again whenever syncd's property definitions change)",
    ),
)


def _hubspot(settings: Any) -> tuple[list[dict[str, Any]] | None, list[Check]]:
    """(the contact property definitions, or None when they could not be read; the HubSpot checks)."""
    url = settings.hubspot_base_url
    reach = f"HubSpot reachable at {url}"
    token = "HubSpot accepts HUBSPOT_ACCESS_TOKEN"
    if settings.hubspot_access_token is None:
        head = [
            Check("hubspot.reachable", reach, "skip", "no token to call it with"),
            Check("hubspot.token", token, "fail", "HUBSPOT_ACCESS_TOKEN (or HUBSPOT_ACCESS_TOKEN_FILE) is not set"),
        ]
        return None, head + _skipped(_HUBSPOT_READS, "no HubSpot token")
    source = _hubspot_source(settings)
    first = _Outcome(lambda: source.list_contacts(None, ["email"], limit=1))
    error = first.error
    if error is not None and error.kind == "network":
        head = [Check("hubspot.reachable", reach, "fail", explain(error, settings))]
        return None, head + [Check("hubspot.token", token, "skip", "HubSpot unreachable")] + _skipped(
            _HUBSPOT_READS, "HubSpot unreachable"
        )
    checks = [Check("hubspot.reachable", reach, "ok")]
    if error is not None and error.kind == "auth":
        checks.append(Check("hubspot.token", token, "fail", explain(error, settings)))
        return None, checks + _skipped(_HUBSPOT_READS, "the token was refused")
    if error is None or error.kind == "forbidden":  # a 403 is an answer to a token HubSpot knows
        checks.append(Check("hubspot.token", token, "ok"))
    else:
        checks.append(Check("hubspot.token", token, "skip", "HubSpot did not answer the first read"))
    contact_id = first.value.records[0]["id"] if first.value is not None and first.value.records else None
    reads = {
        "hubspot.contacts": first,
        "hubspot.search": _Outcome(lambda: source.search_contacts_modified(0, ["email"], limit=1)),
        "hubspot.properties": _Outcome(lambda: source.get_properties("contacts")),
        "hubspot.owners": _Outcome(lambda: source.owners_page(None, limit=1)),
    }
    found = {
        "hubspot.contacts": "first page read" if contact_id else "first page read (the portal has no contacts)",
        "hubspot.search": "a search by lastmodifieddate answered",
        "hubspot.properties": "",
        "hubspot.owners": "",
    }
    if reads["hubspot.properties"].value is not None:
        found["hubspot.properties"] = f"{len(reads['hubspot.properties'].value)} definitions read"
    if reads["hubspot.owners"].value is not None:
        found["hubspot.owners"] = "first page read" + ("" if reads["hubspot.owners"].value.records else " (no owners)")
    for kind in ("tasks", "notes"):
        reads[f"hubspot.{kind}"], found[f"hubspot.{kind}"] = _engagements(source, kind, contact_id)
    for name, title in _HUBSPOT_READS:
        outcome = reads[name]
        if name == "hubspot.notes" and not settings.config.notes.enabled and outcome.error is not None:
            checks.append(Check(name, title, "note", "not needed while notes are off (notes.enabled: false)"))
        elif outcome.error is None:
            checks.append(Check(name, title, "ok", found[name]))
        else:
            checks.append(Check(name, title, "fail", explain(outcome.error, settings)))
    return reads["hubspot.properties"].value, checks


def _write_scopes() -> list[Check]:
    """The write scopes, which no read exercises: said, not checked."""
    return [
        Check(
            name, f"HubSpot write scope {scope}", "note", f"cannot be checked without writing; {why}; grant it {WHERE}"
        )
        for name, scope, why in _HUBSPOT_WRITES
    ]


def _engagements(source: Any, kind: str, contact_id: str | None) -> tuple[_Outcome, str]:
    """List one task (or note), then read a contact's associated ones: the reads `find_by_key` makes."""
    listed = _Outcome(lambda: source.engagements_page(kind, limit=1))
    if listed.error is not None or contact_id is None:
        return listed, f"first page of {kind} read (no contact to read the associations of)"
    associated = _Outcome(lambda: source.associations_page(contact_id, kind, limit=1))
    return associated, f"first page of {kind} and contact {contact_id}'s {kind} read"


def _skipped(reads: tuple[tuple[str, str], ...], why: str) -> list[Check]:
    return [Check(name, title, "skip", why) for name, title in reads]


def _hubspot_schema(mappings: Any, props: list[dict[str, Any]] | None) -> list[Check]:
    """syncd's own properties, the mapped ones and the consent property, against the live definitions."""
    from syncd.mappings import check_against
    from syncd.owned import CONTACT_PROPERTIES, GROUP

    own = f"syncd's HubSpot properties ({len(CONTACT_PROPERTIES)}, group {GROUP['name']})"
    mapped = "mapped and owned HubSpot properties"
    consent = "HubSpot consent property"
    if mappings is not None:
        consent += f" {mappings.consent.hubspot_property}"
    if props is None or mappings is None:
        why = "the contact properties could not be read" if props is None else "the mappings file is invalid"
        return [
            Check(n, t, "skip", why) for n, t in (("hubspot.syncd_properties", own), ("hubspot.mapped", mapped))
        ] + [Check("hubspot.consent", consent, "skip", why)]
    live = {p.get("name"): p for p in props}
    wrong = [problem for d in CONTACT_PROPERTIES if d["name"] in live for problem in _differs(d, live[d["name"]])]
    missing = [d["name"] for d in CONTACT_PROPERTIES if d["name"] not in live]
    if wrong:
        detail = "; ".join(wrong) + ": fix the definition in HubSpot, or delete the property (syncd recreates it)"
        own_check = Check("hubspot.syncd_properties", own, "fail", detail)
    elif missing:
        which = "none exist yet" if len(missing) == len(CONTACT_PROPERTIES) else f"missing {', '.join(missing)}"
        detail = f"{which}: syncd's first run creates them (with {SCHEMAS_WRITE})"
        own_check = Check("hubspot.syncd_properties", own, "ok", detail)
    else:
        own_check = Check("hubspot.syncd_properties", own, "ok", "all exist with syncd's types")
    problems = check_against(mappings, props, [], CONTACT_PROPERTIES)
    hubspot_side = [p for p in problems if _about(p) == "hubspot"]
    consent_side = [p for p in problems if _about(p) == "consent"]
    names = list(dict.fromkeys([*(f.hubspot for f in mappings.fields), *mappings.owned_properties]))
    later = [n for n in names if n not in live]  # syncd's own, created by the first run (else a problem above)
    found = f"{len(names) - len(later)} exist" + (
        f", {len(later)} are syncd's, created by its first run" if later else ""
    )
    return [
        own_check,
        Check("hubspot.mapped", mapped, "fail", "; ".join(hubspot_side))
        if hubspot_side
        else Check("hubspot.mapped", mapped, "ok", found),
        Check("hubspot.consent", consent, "fail", "; ".join(consent_side))
        if consent_side
        else Check(
            "hubspot.consent",
            consent,
            "ok",
            "exists, with the granted values " + ", ".join(mappings.consent.granted_values),
        ),
    ]


def _differs(definition: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """How an existing property differs from syncd's definition of it in a way that refuses syncd's writes
    (syncd never edits an existing definition): another type, or options syncd writes that it lacks."""
    name = definition["name"]
    if found.get("type") != definition["type"]:
        return [f"{name} exists as {found.get('type')}, syncd writes {definition['type']}"]
    have = {o.get("value") for o in found.get("options") or []}
    lacking = [o["value"] for o in definition.get("options") or [] if o["value"] not in have]
    return [f"{name} lacks the option(s) {', '.join(lacking)} syncd writes"] if lacking else []


def _about(problem: str) -> str:
    """Which line a `check_against` problem belongs to: "mailchimp", "consent" or "hubspot"."""
    if "Mailchimp merge field" in problem:
        return "mailchimp"
    if " consent property '" in problem or " consent value " in problem:
        return "consent"
    return "hubspot"


# -- Mailchimp ----------------------------------------------------------------------------------------------
def _mailchimp_source(settings: Any) -> Any:
    from connectors.errors import CallStats
    from connectors.limiter import InFlight
    from connectors.mailchimp.client import make_mailchimp_client
    from connectors.mailchimp.source import MailchimpSource

    return MailchimpSource(
        make_mailchimp_client(settings.mailchimp_api_key.get_secret_value(), settings.mailchimp_base_url),
        settings.mailchimp_list_id or "",
        CallStats(),
        retry=_retry_briefly,
        in_flight=InFlight(max(1, round(10 * settings.config.rate_scale))),
    )


def _mailchimp(settings: Any) -> tuple[list[dict[str, Any]] | None, list[Check]]:
    """(the audience's merge fields, or None when they could not be read; the Mailchimp checks)."""
    reach = f"Mailchimp reachable at {settings.mailchimp_base_url or '(the API key data centre)'}"
    key = "Mailchimp accepts MAILCHIMP_API_KEY (ping)"
    audience = " ".join(["Mailchimp audience", *([settings.mailchimp_list_id] if settings.mailchimp_list_id else [])])
    audience += " (MAILCHIMP_LIST_ID)"
    if settings.mailchimp_api_key is None:
        return None, [
            Check("mailchimp.reachable", reach, "skip", "no API key to call it with"),
            Check("mailchimp.key", key, "fail", "MAILCHIMP_API_KEY (or MAILCHIMP_API_KEY_FILE) is not set"),
            Check("mailchimp.audience", audience, "skip", "no API key"),
        ]
    source = _mailchimp_source(settings)
    ping = _Outcome(source.ping)
    if ping.error is not None and ping.error.kind == "network":
        return None, [
            Check("mailchimp.reachable", reach, "fail", explain(ping.error, settings)),
            Check("mailchimp.key", key, "skip", "Mailchimp unreachable"),
            Check("mailchimp.audience", audience, "skip", "Mailchimp unreachable"),
        ]
    checks = [Check("mailchimp.reachable", reach, "ok")]
    if ping.error is not None:
        return None, [
            *checks,
            Check("mailchimp.key", key, "fail", explain(ping.error, settings)),
            Check("mailchimp.audience", audience, "skip", "the API key was refused"),
        ]
    checks.append(Check("mailchimp.key", key, "ok"))
    if not settings.mailchimp_list_id:
        return None, [*checks, Check("mailchimp.audience", audience, "fail", "MAILCHIMP_LIST_ID is not set")]
    found = _Outcome(source.get_audience)
    if found.error is not None:
        return None, [*checks, Check("mailchimp.audience", audience, "fail", explain(found.error, settings))]
    members = (found.value.get("stats") or {}).get("member_count")
    detail = f"'{found.value.get('name', '')}'" + (f", {members} members" if members is not None else "")
    checks.append(Check("mailchimp.audience", audience, "ok", detail))
    fields = _Outcome(source.get_merge_fields)
    if fields.error is not None:
        checks.append(
            Check(
                "mailchimp.merge_fields_read", "Mailchimp reads merge fields", "fail", explain(fields.error, settings)
            )
        )
        return None, checks
    return fields.value, checks


def _merge_fields(mappings: Any, fields: list[dict[str, Any]] | None) -> list[Check]:
    from syncd.mappings import check_against

    title = "Mailchimp merge fields the mappings fill"
    if mappings is None:
        return [Check("mailchimp.merge_fields", title, "skip", "the mappings file is invalid")]
    title += f" ({', '.join(f.merge_tag for f in mappings.fields)})"
    if fields is None:
        return [Check("mailchimp.merge_fields", title, "skip", "the audience's merge fields could not be read")]
    present = {str(f.get("tag", "")).upper() for f in fields}
    missing = [d for d in mappings.merge_field_defs() if d["tag"].upper() not in present]
    # a missing field is created by the first run as its definition says: only a present one can be wrong
    problems = [p for p in check_against(mappings, [], fields, missing) if _about(p) == "mailchimp"]
    if problems:
        return [Check("mailchimp.merge_fields", title, "fail", "; ".join(problems))]
    if missing:
        tags = ", ".join(d["tag"] for d in missing)
        return [Check("mailchimp.merge_fields", title, "ok", f"{tags} missing: syncd's first run creates them")]
    return [Check("mailchimp.merge_fields", title, "ok", "all exist with the mapped types")]
