"""Contact search through the SDK: operators, groups, sorts, query, paging, totals and limits."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput

from sandbox.hubspot import bodies, search
from sandbox.timefmt import parse_ts_ms
from sandbox.world import SandboxConfig, World

# search: 4 requests/s per token; rate_scale lifts it out of the way here
SHARED_SANDBOX = SandboxConfig(
    contacts=200, seed=7, start_ms=1_767_225_600_000, rate_scale=100
)  # one server per module (tests/conftest.py)


def _search(hubspot, **kw):
    return hubspot.crm.contacts.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(**kw))


def _f(prop: str, op: str, value=None, **extra) -> dict:
    f = {"propertyName": prop, "operator": op, **extra}
    if value is not None:
        f["value"] = value
    return f


def _all(hubspot, **kw) -> tuple[list, int]:
    out, after, total = [], None, 0
    while True:
        page = _search(hubspot, limit=200, after=after, **kw)
        out += page.results
        total = page.total
        if page.paging is None:
            return out, total
        after = page.paging.next.after


def _contacts(sandbox) -> list[dict]:
    return sandbox.world.hubspot.state()["contacts"]


def test_no_filters_sorts_by_id_and_counts_everything(hubspot, sandbox):
    page = _search(hubspot, limit=5)
    assert page.total == len(sandbox.world.population.hubspot_indices)
    ids = [int(r.id) for r in page.results]
    assert ids == sorted(ids) and len(ids) == 5
    assert page.paging.next.after == "5"
    nxt = _search(hubspot, limit=5, after="5")
    assert int(nxt.results[0].id) > ids[-1]


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (_f("lifecyclestage", "EQ", "lead"), lambda p: p.get("lifecyclestage") == "lead"),
        (_f("lifecyclestage", "NEQ", "lead"), lambda p: p.get("lifecyclestage") != "lead"),
        (
            _f("lifecyclestage", "IN", values=["lead", "customer"]),
            lambda p: p.get("lifecyclestage") in ("lead", "customer"),
        ),
        (_f("lifecyclestage", "NOT_IN", values=["subscriber"]), lambda p: p.get("lifecyclestage") != "subscriber"),
        (_f("hubspot_owner_id", "HAS_PROPERTY"), lambda p: p.get("hubspot_owner_id") is not None),
        (_f("hubspot_owner_id", "NOT_HAS_PROPERTY"), lambda p: p.get("hubspot_owner_id") is None),
        (_f("email", "CONTAINS_TOKEN", "*@gmail.com"), lambda p: p["email"].lower().endswith("@gmail.com")),
        (_f("email", "NOT_CONTAINS_TOKEN", "*@gmail.com"), lambda p: not p["email"].lower().endswith("@gmail.com")),
    ],
)
def test_operators_match_exactly_the_expected_contacts(hubspot, sandbox, flt, check):
    found, total = _all(hubspot, filter_groups=[{"filters": [flt]}], properties=["lifecyclestage", "hubspot_owner_id"])
    expected = {c["id"] for c in _contacts(sandbox) if check(c["properties"])}
    assert {r.id for r in found} == expected and total == len(expected)
    assert expected  # the population has both kinds


def test_number_and_time_comparisons_are_numeric(hubspot, sandbox):
    contacts = _contacts(sandbox)
    times = sorted(parse_ts_ms(c["properties"]["createdate"]) for c in contacts)
    lo, hi = times[20], times[80]
    cases = {
        "GT": lambda t: t > lo,
        "GTE": lambda t: t >= lo,
        "LT": lambda t: t < lo,
        "LTE": lambda t: t <= lo,
        "EQ": lambda t: t == lo,
    }
    for op, keep in cases.items():
        _, total = _all(hubspot, filter_groups=[{"filters": [_f("createdate", op, str(lo))]}])
        assert total == sum(1 for t in times if keep(t)), op
    _, total = _all(hubspot, filter_groups=[{"filters": [_f("createdate", "BETWEEN", str(lo), highValue=str(hi))]}])
    assert total == sum(1 for t in times if lo <= t <= hi) == 61
    iso = "1970-01-01T00:00:00.000Z"
    assert _search(hubspot, filter_groups=[{"filters": [_f("createdate", "GT", iso)]}]).total == len(times)
    hubspot.crm.contacts.basic_api.update(contacts[0]["id"], SimplePublicObjectInput(properties={"phone": "+1 555"}))
    hits = _search(hubspot, filter_groups=[{"filters": [_f("num_conversion_events", "LT", "1")]}])
    assert hits.total == len(times)


def test_filter_groups_are_or_of_ands(hubspot, sandbox):
    groups = [
        {"filters": [_f("lifecyclestage", "EQ", "lead"), _f("hubspot_owner_id", "HAS_PROPERTY")]},
        {"filters": [_f("lifecyclestage", "EQ", "customer")]},
    ]
    found, _ = _all(hubspot, filter_groups=groups)
    expected = {
        c["id"]
        for c in _contacts(sandbox)
        if (c["properties"].get("lifecyclestage") == "lead" and c["properties"].get("hubspot_owner_id"))
        or c["properties"].get("lifecyclestage") == "customer"
    }
    assert {r.id for r in found} == expected


def test_sorts_accept_strings_and_dicts_both_directions(hubspot, sandbox):
    contacts = _contacts(sandbox)
    asc = sorted(contacts, key=lambda c: (parse_ts_ms(c["properties"]["createdate"]), int(c["id"])))
    by_str = _search(hubspot, sorts=["createdate"], limit=10)
    assert [r.id for r in by_str.results] == [c["id"] for c in asc[:10]]
    desc = _search(hubspot, sorts=["-createdate"], limit=3)
    assert [r.id for r in desc.results] == [c["id"] for c in asc[::-1][:3]]
    by_dict = _search(
        hubspot, sorts=[{"propertyName": "lastname", "direction": "DESCENDING"}], limit=200, properties=["lastname"]
    )
    names = [r.properties["lastname"].lower() for r in by_dict.results]
    assert names == sorted(names, reverse=True)


def test_query_searches_names_and_email(hubspot, sandbox):
    target = _contacts(sandbox)[5]["properties"]
    hits = _search(hubspot, query=target["lastname"], limit=200, properties=["lastname"])
    assert hits.total >= 1 and all(
        target["lastname"].lower() in (r.properties["lastname"] or "").lower()
        or target["lastname"].lower() in r.properties["email"].lower()
        or target["lastname"].lower() in (r.properties["firstname"] or "").lower()
        for r in hits.results
    )
    assert _search(hubspot, query=target["email"].upper()).results[0].properties["email"] == target["email"]


def test_incremental_sync_pattern_sees_new_writes_in_order(hubspot, sandbox):
    start = sandbox.world.clock.now_ms()
    ids = [c["id"] for c in _contacts(sandbox)[:3]]
    for cid in reversed(ids):
        hubspot.crm.contacts.basic_api.update(cid, SimplePublicObjectInput(properties={"jobtitle": "Buyer"}))
    page = _search(
        hubspot,
        filter_groups=[{"filters": [_f("lastmodifieddate", "GT", str(start))]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["jobtitle"],
    )
    assert [r.id for r in page.results] == list(reversed(ids)) and page.total == 3 and page.paging is None
    stamps = [r.properties["lastmodifieddate"] for r in page.results]
    assert stamps == sorted(stamps)


def _status(hubspot, **kw) -> tuple[int, dict]:
    with pytest.raises(ApiException) as err:
        _search(hubspot, **kw)
    return err.value.status, json.loads(err.value.body)


def test_limits_on_groups_filters_and_page_size(hubspot):
    one = _f("email", "HAS_PROPERTY")
    assert _status(hubspot, filter_groups=[{"filters": [one]}] * 6)[0] == 400
    assert _status(hubspot, filter_groups=[{"filters": [one] * 11}])[0] == 400
    assert _status(hubspot, filter_groups=[{"filters": [one] * 9}] * 3)[0] == 400  # 27 > 25 in all
    assert _search(hubspot, filter_groups=[{"filters": [one] * 5}] * 5).total > 0  # 25 is fine
    status, body = _status(hubspot, limit=201)
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    full = _search(hubspot, limit=200)
    assert len(full.results) == min(200, full.total)


def test_ten_thousand_result_cap(hubspot):
    status, body = _status(hubspot, after="9900", limit=200)
    assert status == 400 and body["category"] == "VALIDATION_ERROR" and "10000" in body["message"]
    assert _search(hubspot, after="9800", limit=200).results == []


@pytest.mark.parametrize(
    "bad",
    [
        {"filter_groups": [{"filters": [_f("no_such_prop", "EQ", "1")]}]},
        {"filter_groups": [{"filters": [_f("createdate", "GT", "yesterday")]}]},
        {"filter_groups": [{"filters": [_f("createdate", "BETWEEN", "1")]}]},
        {"filter_groups": [{"filters": [_f("email", "IN")]}]},
        {"sorts": ["-no_such_prop"]},
        {"query": "x" * 3001},
    ],
)
def test_bad_searches_are_400(hubspot, bad):
    status, body = _status(hubspot, **bad)
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


def test_time_index_path_agrees_with_a_full_scan():
    """The indexed range path must give the same page and total as filtering everything."""
    world = World(SandboxConfig(contacts=3000, seed=3, start_ms=1_767_225_600_000))
    table = world.hubspot.contacts
    for k, rid in enumerate(["100010", "100020", "100030"]):
        if table.get(rid) is not None:
            table.update(rid, {"jobtitle": f"T{k}"})
    table.archive("100040")
    cut = world.clock.start_ms - 90 * 86_400_000
    req = {
        "filterGroups": [{"filters": [_f("lastmodifieddate", "GTE", str(cut))]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 50,
        "after": "20",
    }
    fast = search.run(table, search.plan(table, bodies.SearchIn.model_validate(req)))
    live = [r for r in table.iter_live() if r.updated_ms >= cut]
    live.sort(key=lambda r: (r.updated_ms, int(r.id)))
    assert fast.total == len(live)
    assert [r.id for r in fast.records] == [r.id for r in live[20:70]]
    both = {
        **req,
        "filterGroups": [{"filters": [*req["filterGroups"][0]["filters"], _f("lifecyclestage", "EQ", "lead")]}],
    }
    slow = search.run(table, search.plan(table, bodies.SearchIn.model_validate(both)))
    leads = [r for r in live if r.props.get("lifecyclestage") == "lead"]
    assert slow.total == len(leads) and [r.id for r in slow.records] == [r.id for r in leads[20:70]]
