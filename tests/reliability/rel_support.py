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
