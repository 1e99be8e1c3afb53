"""A malformed record (an invalid email, a 70,000-character property) is quarantined with its reason,
counted in `syncd once --json`, and the rest syncs (invariant 8). An owner HubSpot no longer knows is not
a malformed record: that contact is scored and synced like any other (its task is routed elsewhere).

HubSpot refuses such writes through its API, yet such records exist (imports, older validation,
integrations writing directly), so they are planted straight into the sandbox's contact store.
"""

from __future__ import annotations

from pathlib import Path

from rel_support import (
    SandboxServer,
    advance,
    invariant_4_violations,
    state,
    store_rows,
    summary_of,
    syncd_once,
    world_config,
)

LONG = 70_000


def _plant(sb: SandboxServer) -> tuple[dict[str, str], str]:
    """Two malformed contacts and one whose owner left; returns (contact id -> the reason syncd must give,
    the id of the contact with the departed owner)."""
    contacts = sb.world.hubspot.contacts
    ids = [str(c["id"]) for c in state(sb)["hubspot"]["contacts"]][5:8]
    bad = {ids[0]: ("email", "not-an-email"), ids[1]: ("hubspot_owner_id", "99999999"), ids[2]: ("company", "x" * LONG)}
    for rid, (name, value) in bad.items():
        rec = contacts.materialize(rid)
        rec.props[name] = value
        contacts.touch(rec)
    return {ids[0]: "invalid email", ids[2]: f"property company is {LONG} characters"}, ids[1]


def test_malformed_contacts_are_quarantined_and_the_rest_syncs(tmp_path: Path) -> None:
    db = tmp_path / "syncd.db"
    with SandboxServer(world_config(contacts=60)) as sb:
        expected, ownerless = _plant(sb)
        summary = summary_of(syncd_once(sb, db))
        st = state(sb)
        advance(sb)
        again = summary_of(syncd_once(sb, db))

    assert summary["ok"] and summary["quarantined"] >= 2, summary
    rows = store_rows(db, "SELECT source, record_key, reason FROM quarantine ORDER BY record_key")
    by_id = {key: reason for source, key, reason in rows if source == "hubspot"}
    for rid, reason in expected.items():
        assert rid in by_id, f"contact {rid} not quarantined: {rows}"
        assert by_id[rid].startswith(reason), (rid, by_id[rid])
    # the payload is kept for the admin, but a 70,000-character value is not stored whole
    stored = store_rows(db, f"SELECT length(payload) FROM quarantine WHERE record_key = '{list(expected)[1]}'")
    assert stored and stored[0][0] < LONG

    # everything else synced: every other contact got its score, the quarantined ones were not touched
    scored = {str(c["id"]) for c in st["hubspot"]["contacts"] if c["properties"].get("syncd_score") is not None}
    others = {str(c["id"]) for c in st["hubspot"]["contacts"]} - set(expected)
    assert others and others <= scored
    assert ownerless in scored and ownerless not in by_id
    assert not scored & set(expected)
    assert summary["commands"]["pushed"].get("hubspot.update_contact", 0) >= len(others)
    assert invariant_4_violations(st) == []

    # seen again on the next cycle or not, a quarantined record is listed once per reason
    assert again["ok"]
    assert len(store_rows(db, "SELECT 1 FROM quarantine")) == len(rows)
