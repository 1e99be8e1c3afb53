"""Shared by the reliability tests: a seeded world with engagement that makes tasks and notes, `syncd once`
as a subprocess, and a comparison of two worlds' final states that ignores only what depends on wall time.

What "the same final state" means (compared per contact email, since ids and timestamps differ):
* HubSpot contacts: the same set of emails; per contact, `lifecyclestage` and every `syncd_*` property
  except `syncd_scored_at` (the moment of scoring, a wall-clock value).
* Tasks: per contact, the same multiset of (subject, owner, priority, status, type, body without its
  `syncd-ref:` line). The ref carries the deciding cycle's timestamp, so it differs between runs; the
  rest of the task, and how many there are, may not.
* Notes: per contact, the same multiset of engagement lines (`<li>` items) over all its notes. How the
  events are grouped into notes may legitimately differ (a crash can move an event's note to the next
  cycle); what may not differ is which events are reported, and none twice. Also: no two notes share
  a `syncd-ref`.
* Mailchimp members: the same set of emails; per member `status`, `merge_fields` and the tag names.
* syncd's own events table: every (source, event_id) of the reference (no lost event).
"""

from __future__ import annotations

import collections
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z (a Thursday: no simulated send before 15:00)
HOUR_MS = 3_600_000
ECHO_ADVANCE_DAYS = 0.01  # ~14 min: past the 30 s lag window, far from the next simulated send
RUN_TIMEOUT_S = 120
WITH_FAULTS = Path(__file__).resolve().with_name("syncd_with_faults.py")  # the CLI plus the test fault points
_REF = re.compile(r"syncd-ref:\s*([^<\s]+)")
_LI = re.compile(r"<li>(.*?)</li>", re.S)


def world_config(**overrides: Any) -> SandboxConfig:
    base = dict(contacts=120, seed=11, start_ms=START_MS)
    base.update(overrides)
    return SandboxConfig(**base)


def state(sb: SandboxServer) -> dict[str, Any]:
    r = requests.get(f"{sb.url}/_sandbox/state", timeout=60)
    r.raise_for_status()
    return r.json()


def advance(sb: SandboxServer, days: float = ECHO_ADVANCE_DAYS) -> None:
    requests.post(f"{sb.url}/_sandbox/clock", json={"advance_days": days}, timeout=60).raise_for_status()


def engaged_leads(st: dict[str, Any], n: int) -> list[str]:
    """`n` emails (sorted, so the same in two identical worlds) of owned contacts subscribed in Mailchimp."""
    subscribed = {m["email_address"].lower() for m in st["mailchimp"]["members"] if m["status"] == "subscribed"}
    owners = {str(o["id"]) for o in st["hubspot"]["owners"]}
    picks = sorted(
        c["properties"]["email"].lower()
        for c in st["hubspot"]["contacts"]
        if c["properties"].get("email", "").lower() in subscribed and c["properties"].get("hubspot_owner_id") in owners
    )
    assert len(picks) >= n, "the seeded population has too few owned, subscribed leads"
    return picks[:n]


def inject_engagement(sb: SandboxServer) -> dict[str, Any]:
    """Before the first cycle: 4 leads open a campaign and click pricing 3 times (they go hot: a task and a
    note each), one of them also submits a form (a HubSpot conversion event), and a fifth unsubscribes.
    Every timestamp is fixed relative to START_MS, so two worlds get exactly the same events."""
    leads = engaged_leads(state(sb), 5)
    hot, quitter = leads[:4], leads[4]
    events: list[dict[str, Any]] = []
    for email in hot:
        events.append({"email": email, "action": "open", "timestamp": START_MS - 2 * HOUR_MS})
        events += [
            {
                "email": email,
                "action": "click",
                "url": f"https://www.example-saas.com/pricing?v={i}",
                "timestamp": START_MS - HOUR_MS + i * 60_000,
            }
            for i in range(3)
        ]
    events.append({"email": quitter, "action": "unsubscribe", "timestamp": START_MS - HOUR_MS})
    events.append(
        {"email": hot[0], "action": "form_submission", "form": "Demo request", "timestamp": START_MS - HOUR_MS // 2}
    )
    r = requests.post(f"{sb.url}/_sandbox/events", json=events, timeout=60)
    r.raise_for_status()
    assert r.json()["applied"] == len(events)
    return {"hot": hot, "unsubscribed": quitter}


def syncd_env(sb: SandboxServer, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env.update(sb.env)
    env.update(
        {
            "SYNCD_DATABASE_URL": f"sqlite:///{db}",
            "SYNCD_LOG_LEVEL": "WARNING",
            "SYNCD_HTTP_PORT": "0",
            "SYNCD_LOG_FORMAT": "json",
            "SYNCD_CONFIG": str(ROOT / "tests/reliability/syncd-reliability.yaml"),
        }
    )
    env.update(extra)
    return env


def syncd_once(sb: SandboxServer, db: Path, **extra: str) -> subprocess.CompletedProcess:
    """`syncd once --json` in a subprocess against the sandbox, with the store in `db`."""
    return subprocess.run(
        [sys.executable, str(WITH_FAULTS), "once", "--json"],
        cwd=ROOT,
        env=syncd_env(sb, db, **extra),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


# `syncd once`, the clock moved past the lag window, `syncd once` again: two real invocations of the CLI
# entry point in ONE fresh process, which saves a second interpreter start (~1.5 s of imports) per use.
_ONCE_ADVANCE_ONCE = """
import json, sys, urllib.request
sys.path.insert(0, sys.argv[3])
from faultpoints import install
install()
from syncd.cli import main
rc = main(["once", "--json"])
sys.stdout.flush()
if rc:
    sys.exit(rc)
body = json.dumps({"advance_days": float(sys.argv[2])}).encode()
req = urllib.request.Request(sys.argv[1] + "/_sandbox/clock", data=body, method="POST",
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()
sys.exit(main(["once", "--json"]))
"""


def syncd_once_advance_once(
    sb: SandboxServer, db: Path, days: float = ECHO_ADVANCE_DAYS, **extra: str
) -> list[dict[str, Any]]:
    """A fresh process runs `syncd once --json`, advances the sandbox clock by `days` (so the next pull
    sees this cycle's writes), runs `syncd once --json` again; returns both summaries."""
    proc = subprocess.run(
        [sys.executable, "-c", _ONCE_ADVANCE_ONCE, sb.url, str(days), str(WITH_FAULTS.parent)],
        cwd=ROOT,
        env=syncd_env(sb, db, **extra),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"syncd once failed ({proc.returncode}): {proc.stderr[-2000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2, proc.stdout[-2000:]
    return [json.loads(line) for line in lines]


def summary_of(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    assert proc.returncode == 0, f"syncd once failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- comparison
def _strip_ref(body: str | None) -> str:
    return "\n".join(line for line in (body or "").splitlines() if not _REF.search(line))


def ref_of(body: str | None) -> str | None:
    m = _REF.search(body or "")
    return m.group(1) if m else None


def fingerprint(st: dict[str, Any]) -> dict[str, Any]:
    """The comparable part of a sandbox state (see the module docstring)."""
    hs = st["hubspot"]
    email_of = {str(c["id"]): (c["properties"].get("email") or "").lower() for c in hs["contacts"]}
    contacts = {}
    for c in hs["contacts"]:
        p = c["properties"]
        contacts[email_of[str(c["id"])]] = {
            "lifecyclestage": p.get("lifecyclestage"),
            **{k: v for k, v in sorted(p.items()) if k.startswith("syncd_") and k != "syncd_scored_at"},
        }
    tasks: dict[str, list] = collections.defaultdict(list)
    for tk in hs["tasks"]:
        p = tk["properties"]
        for cid in tk["associations"]["contacts"]:
            tasks[email_of.get(str(cid), str(cid))].append(
                (
                    p.get("hs_task_subject"),
                    p.get("hubspot_owner_id"),
                    p.get("hs_task_priority"),
                    p.get("hs_task_status"),
                    p.get("hs_task_type"),
                    _strip_ref(p.get("hs_task_body")),
                )
            )
    notes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for note in hs["notes"]:
        for cid in note["associations"]["contacts"]:
            notes[email_of.get(str(cid), str(cid))].update(_LI.findall(note["properties"].get("hs_note_body") or ""))
    members = {
        m["email_address"].lower(): {
            "status": m["status"],
            "merge_fields": m.get("merge_fields"),
            "tags": sorted(t["name"] if isinstance(t, dict) else t for t in m.get("tags") or []),
        }
        for m in st["mailchimp"]["members"]
    }
    return {
        "contacts": contacts,
        "tasks": {k: sorted(v) for k, v in sorted(tasks.items())},
        "notes": {k: dict(v) for k, v in sorted(notes.items())},
        "members": members,
    }


def diff_fingerprints(got: dict[str, Any], want: dict[str, Any], limit: int = 10) -> list[str]:
    """Human-readable differences (empty when equal)."""
    out: list[str] = []
    for part in ("contacts", "tasks", "notes", "members"):
        g, w = got[part], want[part]
        for key in sorted(set(g) | set(w)):
            if g.get(key) != w.get(key):
                out.append(f"{part}[{key}]: got {g.get(key)!r} want {w.get(key)!r}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


def invariant_4_violations(st: dict[str, Any]) -> list[str]:
    """No contact has two tasks for the same trigger; no two tasks or notes carry the same syncd-ref."""
    problems: list[str] = []
    refs: collections.Counter[str] = collections.Counter()
    triggers: collections.Counter[tuple[str, str]] = collections.Counter()
    for kind, body_prop in (("tasks", "hs_task_body"), ("notes", "hs_note_body")):
        for obj in st["hubspot"][kind]:
            ref = ref_of(obj["properties"].get(body_prop))
            if ref is None:
                problems.append(f"{kind} {obj['id']} has no syncd-ref")
                continue
            refs[ref] += 1
            if kind == "tasks":
                # task:<contact id>:<trigger[+trigger]>:<decided at ms>
                _, contact, rest = ref.split(":", 2)
                triggers[(contact, rest.rsplit(":", 1)[0])] += 1
    problems += [f"syncd-ref {r} used {n} times" for r, n in refs.items() if n > 1]
    problems += [f"contact {c} has {n} tasks for trigger {t}" for (c, t), n in triggers.items() if n > 1]
    return problems


def store_rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def store_events(db: Path) -> set[tuple[str, str]]:
    return set(store_rows(db, "SELECT source, event_id FROM events"))


# --------------------------------------------------------------------------- soak and hostile records
# Used by soak.py (the long kill soak, `make soak`), test_soak_short.py and test_hostile_records.py.
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
)
GONE_STATUSES = ("unsubscribed", "cleaned")


def carries_status(body: object) -> bool:
    """Whether a Mailchimp request body sets a `status` anywhere (a member's own, or one of a batch's
    members) other than `unsubscribed`, the one status syncd may send to an existing member."""
    if isinstance(body, dict):
        return body.get("status", "unsubscribed") != "unsubscribed" or any(carries_status(v) for v in body.values())
    if isinstance(body, list):
        return any(carries_status(v) for v in body)
    return False


def invariant_1_violations(journal: list[dict[str, Any]]) -> list[str]:
    """Invariant 1 over journal entries (the sandbox's record of every Mailchimp write, see
    test_compliance.py): no request carries a `status` for a member that existed, nobody moved from
    unsubscribed or cleaned to subscribed, and the batch subscribe endpoint (status for all) is never used."""
    problems = []
    for e in journal:
        if e["template"] == "/3.0/lists/{list_id}" and e["method"] == "POST":
            problems.append(f"journal {e['seq']}: batch subscribe (POST /lists/{{id}}) sends status for everyone")
        for m in e["members"]:
            if m["before"] is not None and carries_status(e["body"]):
                problems.append(
                    f"journal {e['seq']}: {e['method']} {e['template']} carries a status for existing "
                    f"member {m['email_address']} ({m['before']})"
                )
            if m["before"] in GONE_STATUSES and m["after"] == "subscribed":
                problems.append(f"journal {e['seq']}: {m['email_address']} re-subscribed (was {m['before']})")
    return problems


def journal_entries(url: str, clear: bool = False) -> list[dict[str, Any]]:
    """The sandbox's journal (it must run with journal=True); `clear` empties it after reading."""
    r = requests.get(f"{url}/_sandbox/journal", timeout=60)
    r.raise_for_status()
    entries = r.json()["entries"]
    if clear:
        requests.delete(f"{url}/_sandbox/journal", timeout=60).raise_for_status()
    return entries


def duplicate_contacts(st: dict[str, Any]) -> list[str]:
    """Two live HubSpot contacts holding one normalized email (a contact created twice from Mailchimp)."""
    seen: collections.Counter[str] = collections.Counter(
        (c["properties"].get("email") or "").strip().lower() for c in st["hubspot"]["contacts"]
    )
    return [f"{n} HubSpot contacts with email {e!r}" for e, n in seen.items() if e and n > 1]


def duplicate_members(st: dict[str, Any]) -> list[str]:
    seen: collections.Counter[str] = collections.Counter(
        m["email_address"].strip().lower() for m in st["mailchimp"]["members"]
    )
    return [f"{n} Mailchimp members with email {e!r}" for e, n in seen.items() if n > 1]


class Watch:
    """Invariants checked against every observed state of one world, in order: lifecycle stages never move
    backwards (2), a member seen unsubscribed or cleaned is never seen subscribed again (1), and
    syncd writes only the properties and merge fields it owns or maps (3), judged against the world's
    first state (`allowed_properties`, `allowed_merge_tags`: what syncd and the test itself may change)."""

    def __init__(self, first: dict[str, Any], allowed_properties: set[str], allowed_merge_tags: set[str]) -> None:
        self.allowed_properties, self.allowed_merge_tags = allowed_properties, allowed_merge_tags
        self.first_props = {str(c["id"]): dict(c["properties"]) for c in first["hubspot"]["contacts"]}
        self.first_merge = {
            m["email_address"].lower(): dict(m.get("merge_fields") or {}) for m in first["mailchimp"]["members"]
        }
        self.stage: dict[str, str] = {}
        self.gone: set[str] = set()
        self.checks = 0

    def check(self, st: dict[str, Any]) -> list[str]:
        problems = invariant_4_violations(st) + duplicate_contacts(st) + duplicate_members(st)
        for c in st["hubspot"]["contacts"]:
            cid, props = str(c["id"]), c["properties"]
            stage = props.get("lifecyclestage")
            before = self.stage.get(cid)
            backwards = before in LIFECYCLE_ORDER and stage in LIFECYCLE_ORDER
            if backwards and LIFECYCLE_ORDER.index(stage) < LIFECYCLE_ORDER.index(before):
                problems.append(f"contact {cid}: lifecyclestage moved back from {before} to {stage}")
            if stage:
                self.stage[cid] = stage
            first = self.first_props.get(cid)
            if first is not None:
                changed = {k for k in set(first) | set(props) if first.get(k) != props.get(k)}
                bad = sorted(
                    k
                    for k in changed - self.allowed_properties
                    if not k.startswith("syncd_") and not (k.startswith("hs_lifecyclestage_") and k.endswith("_date"))
                )
                if bad:
                    problems.append(f"contact {cid}: properties neither owned nor mapped changed: {bad}")
        for m in st["mailchimp"]["members"]:
            email = m["email_address"].lower()
            if m["status"] in GONE_STATUSES:
                self.gone.add(email)
            elif m["status"] == "subscribed" and email in self.gone:
                problems.append(f"member {email}: subscribed again after it was unsubscribed or cleaned")
            first_merge = self.first_merge.get(email)
            if first_merge is not None:
                merge = m.get("merge_fields") or {}
                bad = sorted(
                    k
                    for k in set(first_merge) | set(merge)
                    if first_merge.get(k) != merge.get(k) and k not in self.allowed_merge_tags
                )
                if bad:
                    problems.append(f"member {email}: merge fields neither mapped nor owned changed: {bad}")
        self.checks += 1
        return problems


def lost_events(db: Path, injected: list[dict[str, Any]]) -> list[str]:
    """Invariant 5 at any moment: an injected open or click dated before its campaign's activity cursor
    (everything before it was read and committed) must be in the store. `injected` items carry `email`,
    `action`, `timestamp` (epoch ms, whole seconds) and `campaign_id`."""
    if not db.exists():
        return []
    from contracts.timeparse import epoch_ms

    cursors = {
        stream.split(":", 1)[1]: json.loads(value) if isinstance(value, str) else value
        for stream, value in store_rows(
            db, "SELECT stream, value FROM cursors WHERE stream LIKE 'mailchimp_activity:%'"
        )
    }
    stored = {
        (email.strip().lower(), kind, int(ms))
        for email, kind, ms in store_rows(db, "SELECT email, kind, occurred_ms FROM events WHERE source = 'mailchimp'")
    }
    problems = []
    for e in injected:
        if e["action"] not in ("open", "click"):
            continue
        cursor = cursors.get(e.get("campaign_id") or "")
        since = (cursor or {}).get("since")
        if not since or e["timestamp"] >= (epoch_ms(since) or 0):
            continue
        if (e["email"].strip().lower(), e["action"], e["timestamp"]) not in stored:
            problems.append(
                f"event lost: {e['action']} of {e['email']} at {e['timestamp']} is behind the cursor "
                f"{since} of campaign {e.get('campaign_id')} but not stored"
            )
    return problems


def plant_contact(world: Any, props: dict[str, str], modified_ms: int | None = None) -> str:
    """A HubSpot contact written straight into the sandbox's store, past the API's validation (an address
    HubSpot would refuse, a 100 KB value, control characters); `modified_ms` sets its lastmodifieddate
    (many contacts on one timestamp). Returns its id."""
    from sandbox.timefmt import hubspot_ts

    table = world.hubspot.contacts
    rec = table.create({k: v for k, v in props.items() if v is not None})
    if modified_ms is not None:
        rec.updated_ms = int(modified_ms)
        rec.props[table.modified_prop] = hubspot_ts(int(modified_ms))
        table._reindex(rec)
    return str(rec.id)


def plant_member(
    world: Any,
    email: str,
    status: str = "subscribed",
    merge: dict[str, Any] | None = None,
    last_changed_ms: int | None = None,
) -> None:
    """A Mailchimp member written straight into the sandbox's store, past the API's validation."""
    from sandbox.mailchimp.store import Member

    mc = world.mailchimp
    now = mc.now_ms()
    changed = now if last_changed_ms is None else int(last_changed_ms)
    mc._save(Member(mc._new_slot(email), email, status, dict(merge or {}), changed, changed, changed))


# Values no system should choke on: each is planted on either side and must be quarantined with a reason
# or handled, never crash, stall or loop a cycle (test_hostile_records.py draws from these with hypothesis,
# soak.py plants a seeded selection into its world).
BAD_EMAILS = (
    "not-an-email",
    "two@@example.com",
    "spaces in@example.com",
    "trailing.dot@example.",
    "@example.com",
    "a" * 300 + "@example.com",
    "nul\x00byte@example.com",
    "bell\x07@example.com",
    "rtl\u202eevil@example.com",
    "zero\u200bwidth@example.com",
    "josé@exämple.com",
    "ünï@例え.jp",
    "",
)
HOSTILE_TEXT = (
    "x" * 100_000,
    "\x00\x07\x1b[31mred\x1b[0m",
    "\u202e\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
    "\U0001f600\U0001f4a9" * 50,
    "\u200b\u200d\ufeff",
    "<script>alert(1)</script>",
    "'; DROP TABLE contacts; --",
    "line\nbreak\r\nand\ttab",
    "",
    " ",
)
FUTURE_TS = "2100-01-01T00:00:00.000Z"
NO_SUCH_OWNER = "999999999"


def hostile_records(rng: Any, n: int, valid_emails: list[str]) -> list[dict[str, Any]]:
    """`n` hostile records drawn with `rng` (random.Random): {"side": "hubspot", "props": {...}} or
    {"side": "mailchimp", "email", "status", "merge"}. `valid_emails` (existing addresses) are reused with
    other case and surrounding spaces, so the same person shows up twice in slightly different spellings."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.randrange(6)
        if kind == 0 and valid_emails:
            email = rng.choice(valid_emails)
            email = f"  {email.upper()} " if rng.random() < 0.5 else email.swapcase()
        elif kind == 1:
            email = f"hostile.{i}.{rng.randrange(10**6)}@example.com"  # valid, with hostile fields
        else:
            email = rng.choice(BAD_EMAILS)
        if rng.random() < 0.5:
            props = {
                "email": email,
                "firstname": rng.choice(HOSTILE_TEXT),
                "lastname": rng.choice(HOSTILE_TEXT),
                "company": rng.choice(HOSTILE_TEXT),
                "jobtitle": rng.choice(HOSTILE_TEXT),
                "hubspot_owner_id": rng.choice((NO_SUCH_OWNER, "", "not-a-number")),
                "lifecyclestage": rng.choice(("", "not-a-stage", "lead")),
                "numemployees": rng.choice(("lots", "-5", "1e309", "100-500")),
                "hs_legal_basis": rng.choice(("Freely given consent from contact", "", "\x00")),
                "createdate": rng.choice((FUTURE_TS, "yesterday", "2026-01-01T00:00:00Z")),
            }
            for name in rng.sample(sorted(props), rng.randrange(len(props))):  # missing fields
                if name != "email" or rng.random() < 0.2:
                    props.pop(name)
            out.append({"side": "hubspot", "props": props})
        else:
            merge = {
                tag: rng.choice(HOSTILE_TEXT)
                for tag in rng.sample(["FNAME", "LNAME", "COMPANY", "JOBTITLE", "SCORE"], rng.randrange(6))
            }
            status = rng.choice(("subscribed", "subscribed", "unsubscribed", "cleaned", "pending"))
            out.append({"side": "mailchimp", "email": email, "status": status, "merge": merge})
    return out


def plant(world: Any, records: list[dict[str, Any]], modified_ms: int | None = None) -> int:
    """Write hostile_records() into the world's stores; returns how many were planted (a record whose
    address another record holds already is skipped: the stores keep addresses unique, as the services do)."""
    from sandbox.hubspot.tables import Conflict

    planted = 0
    for rec in records:
        if rec["side"] == "hubspot":
            try:
                plant_contact(world, rec["props"], modified_ms)
            except Conflict:
                continue
        else:
            if not rec["email"].strip() or world.mailchimp.find(rec["email"]) is not None:
                continue
            plant_member(world, rec["email"], rec["status"], rec["merge"], modified_ms)
        planted += 1
    return planted
