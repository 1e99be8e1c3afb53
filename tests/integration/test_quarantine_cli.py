"""`syncd quarantine list` and `syncd quarantine retry` against the sandbox: a push-side row (a member update
Mailchimp refused) is retried by queueing its command again, which the next push sends once the cause is
fixed; a pull-side row (a contact with a 70,000-character property) is retried by reading the contact again
from HubSpot, and stored once it is fixed there."""

from __future__ import annotations

import json
import subprocess

from hubspot.crm.contacts import SimplePublicObjectInput
from syncd_harness import SYNCD, Engine, make_lead, sdk_clients, subprocess_env

from sandbox.server import SandboxServer
from sandbox.world import SandboxConfig

LONG = 70_000


def _cli(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SYNCD, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def test_list_and_retry_a_push_side_and_a_pull_side_row(tmp_path):
    with SandboxServer(SandboxConfig(contacts=15, seed=21, rate_scale=20, history_days=0)) as sb:
        hubspot, mailchimp = sdk_clients(sb)
        # the audience's COMPANY is a dropdown that lacks the lead's company: Mailchimp refuses its update
        mailchimp.lists.add_list_merge_field(
            sb.world.list_id, {"tag": "COMPANY", "name": "Company", "type": "dropdown", "options": {"choices": ["x"]}}
        )
        lead = make_lead(sb, hubspot, mailchimp, "quinn.quarantine@example.com", company="Fixable Ltd")
        # a contact written around HubSpot's validation (an import): its pull quarantines it
        broken = make_lead(sb, hubspot, mailchimp, "long.company@example.com", member=False)
        rec = sb.world.hubspot.contacts.materialize(broken["id"])
        rec.props["company"] = "y" * LONG
        sb.world.hubspot.contacts.touch(rec)

        engine = Engine(sb, tmp_path)
        engine.settle()
        engine.cycle()
        env = subprocess_env(sb, tmp_path)

        listed = _cli(["quarantine", "list", "--json"], env, tmp_path)
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        push = next(r for r in rows if r["record"].startswith(f"mailchimp:member:{lead['hash']}"))
        pull = next(r for r in rows if r["record"].startswith(broken["id"]))
        assert push["kind"] == "push" and push["source"] == "mailchimp"
        assert pull["kind"] == "pull" and pull["field"] == "company"
        assert pull["reason"] == f"property company is {LONG} characters (HubSpot's limit is 65536)"
        assert "long.company@example.com" in pull["record"]

        text = _cli(["quarantine", "list"], env, tmp_path).stdout.splitlines()
        assert text[0].split() == ["id", "when", "kind", "record", "field", "value", "reason"]
        line = next(x for x in text if x.startswith(f"{pull['id']} "))
        assert "yyyyyyyyyy..." in line and "y" * 41 not in line  # the value is truncated

        # pull side, still bad in HubSpot: read again, quarantined again with its reason
        still = _cli(["quarantine", "retry", str(pull["id"])], env, tmp_path)
        assert still.returncode == 1 and "still bad: property company is 70000 characters" in still.stdout
        # fixed in HubSpot: read again and stored; the row is gone
        hubspot.crm.contacts.basic_api.update(broken["id"], SimplePublicObjectInput(properties={"company": "Fine"}))
        again = json.loads(_cli(["quarantine", "list", "--json"], env, tmp_path).stdout)
        row = next(r for r in again if r["record"].startswith(broken["id"]))
        fixed = _cli(["quarantine", "retry", str(row["id"])], env, tmp_path)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert f"{row['id']:>6}  pull     {broken['id']}: fixed: read again and stored" in fixed.stdout
        after = json.loads(_cli(["quarantine", "list", "--json"], env, tmp_path).stdout)
        assert not any(r["record"].startswith(broken["id"]) for r in after)

        # push side: the audience now offers the choice; the requeued command goes out at the next push
        sb.world.mailchimp.merge_fields.by_tag("COMPANY").options["choices"].append("Fixable Ltd")
        requeued = _cli(["quarantine", "retry", str(push["id"])], env, tmp_path)
        assert requeued.returncode == 0, requeued.stdout + requeued.stderr
        assert "requeued 1 command(s)" in requeued.stdout
        engine.settle()
        engine.cycle()
        member = engine.member(lead["email"])
        assert member["merge_fields"]["COMPANY"] == "Fixable Ltd"
        final = json.loads(_cli(["quarantine", "list", "--json"], env, tmp_path).stdout)
        assert not any(r["record"].startswith(f"mailchimp:member:{lead['hash']}") for r in final)

        assert _cli(["quarantine", "retry"], env, tmp_path).returncode == 1  # neither an id nor --all
        missing = _cli(["quarantine", "retry", "999999"], env, tmp_path)
        assert missing.returncode == 1 and "no quarantine row 999999" in missing.stderr
