"""Batch operations (/3.0/batches) through the official SDK: the batch object as the spec shapes it, its
progression (observed through the runner's hold/step hooks, never by sleeping), the results archive, and
each operation run with exactly the validation and effects of a direct call."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import tarfile

import pytest
import requests
from mailchimp_marketing.api_client import ApiClientError

from sandbox.mailchimp import batches as batches_module
from sandbox.server import SandboxServer
from sandbox.timefmt import parse_ts_ms
from sandbox.world import SandboxConfig
from tests.conftest import make_mailchimp
from tests.contract.mailchimp_spec import validate_problem, validate_response

SHARED_SANDBOX = SandboxConfig(contacts=200, seed=7, start_ms=1_767_225_600_000)
BATCH = "/batches/{batchId}"  # the spec file's own parameter name (the helper maps snake_case names only)


@pytest.fixture
def list_id(sandbox) -> str:
    return sandbox.world.list_id


@pytest.fixture
def book(sandbox):
    """The world's batch runner (its hooks: hold, step, release, wait)."""
    return sandbox.world.mailchimp.batches


def _validate_batch(method: str, path: str, body: dict) -> None:
    """The Batch schema, strict. Until a batch finishes Mailchimp answers `completed_at: ""`, which the
    spec's date-time format does not allow: that one value is checked here instead."""
    if body.get("completed_at") == "":
        assert body["status"] != "finished"
        body = {k: v for k, v in body.items() if k != "completed_at"}
    validate_response(method, path, body)


def _op(method: str, path: str, body: dict | None = None, **extra) -> dict:
    op = {"method": method, "path": path, **extra}
    if body is not None:
        op["body"] = json.dumps(body)
    return op


def _subscribed(mailchimp, list_id: str, n: int) -> list[dict]:
    return mailchimp.lists.get_list_members_info(list_id, status="subscribed", count=n)["members"]


def _archive(url: str) -> tuple[list[tarfile.TarInfo], list[list[dict]]]:
    """The archive's entries and the results array of each file, downloaded without credentials (S3's way)."""
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:gz") as tar:
        entries = tar.getmembers()
        return entries, [json.load(tar.extractfile(e)) for e in entries if e.isfile()]


def _results(url: str) -> list[dict]:
    return [r for file in _archive(url)[1] for r in file]


def _run(mailchimp, book, operations: list[dict]) -> tuple[dict, list[dict]]:
    """Submit, let it finish, and return (the finished batch through the SDK, its results)."""
    started = mailchimp.batches.start({"operations": operations})
    assert book.wait(started["id"]) == "finished"
    batch = mailchimp.batches.status(started["id"])
    _validate_batch("GET", BATCH, batch)
    return batch, _results(batch["response_body_url"])


# -- the batch object and its progression ----------------------------------------------------------------
def test_a_new_batch_is_pending_with_nothing_counted_yet(mailchimp, book, list_id, sandbox):
    book.hold()
    member = _subscribed(mailchimp, list_id, 1)[0]
    before = sandbox.world.clock.now_ms()
    started = mailchimp.batches.start({"operations": [_op("GET", f"/lists/{list_id}/members/{member['id']}")]})
    after = sandbox.world.clock.now_ms()
    _validate_batch("POST", "/batches", started)
    assert re.fullmatch(r"[0-9a-f]{10}", started["id"])
    assert (
        started["status"],
        started["total_operations"],
        started["finished_operations"],
        started["errored_operations"],
        started["completed_at"],
        started["response_body_url"],
    ) == ("pending", 0, 0, 0, "", "")
    # the simulated clock at the POST, in whole seconds
    assert before // 1000 * 1000 <= parse_ts_ms(started["submitted_at"]) <= after
    assert {link["rel"]: link["method"] for link in started["_links"]} == {
        "parent": "GET",
        "self": "GET",
        "delete": "DELETE",
    }
    assert mailchimp.batches.status(started["id"])["status"] == "pending"


def test_status_moves_pending_preprocessing_started_finalizing_finished(mailchimp, book, list_id, sandbox):
    book.hold()
    a, b = _subscribed(mailchimp, list_id, 2)
    ops = [
        _op(
            "PATCH",
            f"/lists/{list_id}/members/{m['id']}",
            {"merge_fields": {"FNAME": "Stepped"}},
            operation_id=f"rename-{i}",
        )
        for i, m in enumerate((a, b))
    ]
    bid = mailchimp.batches.start({"operations": ops})["id"]

    seen = []
    for _ in range(6):
        book.step()
        now = mailchimp.batches.status(bid)
        _validate_batch("GET", BATCH, now)
        seen.append((now["status"], now["total_operations"], now["finished_operations"]))
        fname = sandbox.world.mailchimp.find(a["id"]).merge["FNAME"]
        assert (fname == "Stepped") == (now["finished_operations"] >= 1)  # operations run in order, one a step
    assert seen == [
        ("preprocessing", 0, 0),
        ("started", 2, 0),
        ("started", 2, 1),
        ("started", 2, 2),
        ("finalizing", 2, 2),
        ("finished", 2, 2),
    ]
    done = mailchimp.batches.status(bid)
    assert done["completed_at"] and done["response_body_url"] and done["errored_operations"] == 0
    assert book.step() is None  # nothing left to do


def test_batches_run_one_at_a_time_in_order(mailchimp, book, list_id):
    book.hold()
    member = _subscribed(mailchimp, list_id, 1)[0]
    path = f"/lists/{list_id}/members/{member['id']}"
    first = mailchimp.batches.start({"operations": [_op("PATCH", path, {"merge_fields": {"LNAME": "One"}})]})["id"]
    second = mailchimp.batches.start({"operations": [_op("PATCH", path, {"merge_fields": {"LNAME": "Two"}})]})["id"]
    book.step(3)
    assert [mailchimp.batches.status(b)["status"] for b in (first, second)] == ["started", "pending"]
    book.release()
    assert book.wait(second) == "finished" and book.wait(first) == "finished"
    assert mailchimp.lists.get_list_member(list_id, member["id"])["merge_fields"]["LNAME"] == "Two"


# -- what the operations do and answer -------------------------------------------------------------------
def test_results_hold_each_operations_answer_as_a_direct_call_gives_it(mailchimp, book, list_id, sandbox):
    store, clock = sandbox.world.mailchimp, sandbox.world.clock
    member = _subscribed(mailchimp, list_id, 1)[0]
    cid = store.add_campaign(clock.now_ms(), "Digest", ["https://example.com/a"])
    store.record_open(member["email_address"], cid, clock.now_ms())
    newcomer = "newcomer@example.org"
    ops = [
        _op(
            "PATCH",
            f"/lists/{list_id}/members/{member['id']}",
            {"merge_fields": {"FNAME": "Batched"}},
            operation_id="patch",
        ),
        _op(
            "PUT",
            f"/lists/{list_id}/members/{hashlib.md5(newcomer.encode()).hexdigest()}",
            {"email_address": newcomer, "status_if_new": "subscribed", "merge_fields": {"LNAME": "New"}},
            operation_id="put",
        ),
        _op("GET", f"/reports/{cid}/email-activity", operation_id="report"),
        _op(
            "PATCH",
            f"/lists/{list_id}/members/{member['id']}",
            {"merge_fields": {"NOPE": "x"}},
            operation_id="bad-merge",
        ),
        _op(
            "POST",
            f"/lists/{list_id}/members",
            {"email_address": "not@an@address", "status": "subscribed"},
            operation_id="bad-email",
        ),
    ]
    batch, results = _run(mailchimp, book, ops)
    assert (batch["total_operations"], batch["finished_operations"], batch["errored_operations"]) == (5, 5, 2)
    by_id = {r["operation_id"]: r for r in results}
    assert [r["operation_id"] for r in results] == ["patch", "put", "report", "bad-merge", "bad-email"]
    assert all(isinstance(r["response"], str) for r in results)  # JSON text, as Mailchimp stores it

    patched = json.loads(by_id["patch"]["response"])
    assert by_id["patch"]["status_code"] == 200 and patched["merge_fields"]["FNAME"] == "Batched"
    validate_response("PATCH", "/lists/{list_id}/members/{subscriber_hash}", patched)
    assert patched == mailchimp.lists.get_list_member(list_id, member["id"])  # what a direct GET answers

    created = json.loads(by_id["put"]["response"])
    validate_response("PUT", "/lists/{list_id}/members/{subscriber_hash}", created)
    assert (created["status"], created["merge_fields"]["LNAME"]) == ("subscribed", "New")
    assert mailchimp.lists.get_list_member(list_id, newcomer)["status"] == "subscribed"

    report = json.loads(by_id["report"]["response"])
    validate_response("GET", "/reports/{campaign_id}/email-activity", report)
    assert report == mailchimp.reports.get_email_activity_for_campaign(cid)
    assert [
        a["action"] for e in report["emails"] if e["email_address"] == member["email_address"] for a in e["activity"]
    ] == ["open"]

    for key, field in (("bad-merge", "NOPE"), ("bad-email", "email_address")):
        problem = json.loads(by_id[key]["response"])
        validate_problem(problem)
        assert by_id[key]["status_code"] == 400 and problem["title"] == "Invalid Resource"
        assert [e["field"] for e in problem["errors"]] == [field]


def test_each_operation_is_validated_and_routed_as_a_direct_call(mailchimp, book, list_id):
    member = _subscribed(mailchimp, list_id, 1)[0]
    ops = [
        {
            "method": "get",
            "path": f"lists/{list_id}/members",
            "params": {"count": 2, "fields": ["members.id"]},
            "operation_id": "relative",
        },
        _op("GET", "/no/such/resource", operation_id="unknown"),
        _op("DELETE", "/lists", operation_id="wrong-method"),
        {
            "method": "PATCH",
            "path": f"/lists/{list_id}/members/{member['id']}",
            "body": "{not json",
            "operation_id": "broken",
        },
        _op("GET", f"/lists/{list_id}/members", operation_id="too-many", params={"count": 1001}),
        _op("GET", f"/lists/{list_id}/members/{member['id']}?fields=status", operation_id="query-in-path"),
        _op("GET", f"/lists/{list_id}/members/{member['id']}"),
    ]
    _, results = _run(mailchimp, book, ops)
    got = {r["operation_id"]: (r["status_code"], json.loads(r["response"])) for r in results}
    first_two = mailchimp.lists.get_list_members_info(list_id, count=2)["members"]
    assert got["relative"] == (200, {"members": [{"id": m["id"]} for m in first_two]})
    assert (got["unknown"][0], got["unknown"][1]["title"]) == (404, "Resource Not Found")
    assert (got["wrong-method"][0], got["wrong-method"][1]["title"]) == (405, "Method Not Allowed")
    assert (got["broken"][0], got["broken"][1]["title"]) == (400, "JSON Parse Error")
    assert got["too-many"][0] == 400 and got["too-many"][1]["errors"][0]["field"] == "count"
    assert got["query-in-path"] == (200, {"status": "subscribed"})
    assert got[None][0] == 200 and got[None][1]["id"] == member["id"]  # no operation_id: null
    for status, body in got.values():
        if status >= 400:
            validate_problem(body)


def test_archive_is_a_directory_of_json_files_served_without_credentials(mailchimp, book, list_id, sandbox):
    member = _subscribed(mailchimp, list_id, 1)[0]
    batch, _ = _run(mailchimp, book, [_op("GET", f"/lists/{list_id}/members/{member['id']}", operation_id="x")])
    entries, files = _archive(batch["response_body_url"])
    assert entries[0].isdir() and entries[0].name in (".", "./")
    names = [e.name for e in entries if e.isfile()]
    assert len(names) == 1 and re.fullmatch(r"\./[0-9a-f]{32}\.json", names[0])
    assert files[0][0]["operation_id"] == "x" and set(files[0][0]) == {"status_code", "operation_id", "response"}
    forged = re.sub(r"Signature=\w+", "Signature=" + "0" * 32, batch["response_body_url"])
    assert requests.get(forged, timeout=10).status_code == 403
    # the download is not an API request: not counted, not behind the 10-connection limit
    assert not any("mailchimp-api-batch" in k for k in requests.get(f"{sandbox.url}/_sandbox/stats").json()["requests"])


def test_a_thousand_operations_finish_in_files_of_500_and_count_in_stats(mailchimp, book, list_id, sandbox):
    requests.delete(f"{sandbox.url}/_sandbox/stats")
    emails = [f"bulk{i}@example.org" for i in range(1000)]
    ops = [
        _op(
            "PUT",
            f"/lists/{list_id}/members/{hashlib.md5(e.encode()).hexdigest()}",
            {"email_address": e, "status_if_new": "subscribed"},
            operation_id=str(i),
        )
        for i, e in enumerate(emails)
    ]
    started = mailchimp.batches.start({"operations": ops})
    assert book.wait(started["id"]) == "finished"
    batch = mailchimp.batches.status(started["id"])
    _, files = _archive(batch["response_body_url"])
    assert [len(f) for f in files] == [500, 500]
    results = [r for f in files for r in f]
    assert [r["operation_id"] for r in results] == [str(i) for i in range(1000)]
    assert {r["status_code"] for r in results} == {200}
    assert mailchimp.lists.get_list_member(list_id, emails[-1])["status"] == "subscribed"
    counted = requests.get(f"{sandbox.url}/_sandbox/stats").json()["requests"]
    assert counted["BATCH PUT /3.0/lists/{list_id}/members/{subscriber_hash}"] == 1000
    assert counted["POST /3.0/batches"] == 1
    assert "PUT /3.0/lists/{list_id}/members/{subscriber_hash}" not in counted


class _PacingRecorder:
    """Stands in for `asyncio` in sandbox.mailchimp.batches: every sleep the runner asks for is recorded, with
    the operations finished at that moment, and takes no time; everything else is asyncio's own."""

    def __init__(self, book) -> None:
        self.book, self.batch_id, self.pauses = book, None, []

    def __getattr__(self, name: str):
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        batch = self.book.get(self.batch_id) if self.batch_id else None
        self.pauses.append((seconds, batch.finished if batch else None))
        await asyncio.sleep(0)


def test_batch_op_ms_paces_the_operations(monkeypatch):
    with pytest.raises(ValueError, match="batch_op_ms"):
        SandboxConfig(batch_op_ms=-1)
    with SandboxServer(SandboxConfig(contacts=20, seed=3, batch_op_ms=40)) as sb:
        book = sb.world.mailchimp.batches
        recorder = _PacingRecorder(book)
        monkeypatch.setattr(batches_module, "asyncio", recorder)
        book.hold()  # so the batch id is known before the runner moves
        started = make_mailchimp(sb).batches.start({"operations": [_op("GET", "/ping")] * 5})
        recorder.batch_id = started["id"]
        book.release()
        assert book.wait(started["id"]) == "finished"
    assert recorder.pauses == [(0.04, k) for k in range(1, 6)]  # 40 ms after each of the 5 operations


def test_a_client_that_never_polls_still_gets_its_operations_applied(mailchimp, book, list_id, sandbox):
    member = _subscribed(mailchimp, list_id, 1)[0]
    started = mailchimp.batches.start(
        {
            "operations": [
                _op("PATCH", f"/lists/{list_id}/members/{member['id']}", {"merge_fields": {"LNAME": "Unpolled"}})
            ]
        }
    )
    book.wait(started["id"])  # a condition wait on the runner, not a status poll
    assert mailchimp.lists.get_list_member(list_id, member["id"])["merge_fields"]["LNAME"] == "Unpolled"


# -- the POST itself -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, field, message",
    [
        (
            {"operations": [{"method": "PATCH", "path": "/lists/x", "body": {"a": 1}}]},
            "operations.item:0.body",
            "Schema describes string, object found instead",
        ),
        (
            {"operations": [{"method": "HEAD", "path": "/ping"}]},
            "operations.item:0.method",
            "Value must be one of: GET, POST, PUT, PATCH, DELETE",
        ),
        ({"operations": [{"method": "GET"}]}, "operations.item:0", "Required fields were not provided: path"),
        (
            {"operations": [{"method": "GET", "path": "/ping", "status_if_new": "subscribed"}]},
            "operations.item:0.status_if_new",
            "Unknown property: status_if_new",
        ),
        (
            {"operations": [{"method": "GET", "path": "/ping", "params": "count=5"}]},
            "operations.item:0.params",
            "Schema describes object, string found instead",
        ),
        (
            {"operations": [{"method": "GET", "path": "/ping", "operation_id": 7}]},
            "operations.item:0.operation_id",
            "Schema describes string, integer found instead",
        ),
        (
            {"operations": {"method": "GET", "path": "/ping"}},
            "operations",
            "Schema describes array, object found instead",
        ),
        ({"operations": [["GET", "/ping"]]}, "operations.item:0", "Schema describes object, array found instead"),
        ({}, "", "Required fields were not provided: operations"),
        ({"operations": [], "webhook": "https://example.com"}, "webhook", "Unknown property: webhook"),
    ],
)
def test_a_malformed_body_is_refused_whole(mailchimp, body, field, message):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.batches.start(body)
    problem = json.loads(caught.value.text)
    validate_problem(problem)
    assert caught.value.status_code == 400 and problem["title"] == "Invalid Resource"
    assert {"field": field, "message": message} in problem["errors"]
    assert mailchimp.batches.list()["total_items"] == 0


def test_every_fault_of_a_body_is_listed(mailchimp):
    with pytest.raises(ApiClientError) as caught:
        mailchimp.batches.start(
            {"operations": [{"method": "GET", "path": "/ping"}, {"path": 3}, {"method": "X", "path": "/p"}]}
        )
    assert [e["field"] for e in json.loads(caught.value.text)["errors"]] == [
        "operations.item:1",
        "operations.item:1.path",
        "operations.item:2.method",
    ]


def test_an_empty_batch_finishes_with_an_empty_result_file(mailchimp, book):
    batch, results = _run(mailchimp, book, [])
    assert (batch["status"], batch["total_operations"], results) == ("finished", 0, [])


def test_the_post_meets_the_front_door_and_the_operations_do_not(mailchimp, book, list_id, sandbox):
    book.hold()
    members = _subscribed(mailchimp, list_id, 3)
    ops = [
        _op("PATCH", f"/lists/{list_id}/members/{m['id']}", {"merge_fields": {"FNAME": "Faultless"}}) for m in members
    ]
    bid = mailchimp.batches.start({"operations": ops})["id"]
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["503"]}).raise_for_status()
    with pytest.raises(ApiClientError) as caught:
        mailchimp.batches.start({"operations": []})
    assert caught.value.status_code == 503
    book.release()
    assert book.wait(bid) == "finished"
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 0.0}).raise_for_status()
    results = _results(mailchimp.batches.status(bid)["response_body_url"])
    assert [r["status_code"] for r in results] == [200, 200, 200]
    bad_key = requests.post(
        f"{sandbox.url}/3.0/batches", json={"operations": []}, auth=("any", "wrong-us1"), timeout=10
    )
    assert bad_key.status_code == 401


def test_at_most_500_batches_pending(mailchimp, book, sandbox):
    book.hold()
    auth = ("any", sandbox.world.config.mailchimp_key)
    with requests.Session() as http:
        for _ in range(500):
            assert http.post(f"{sandbox.url}/3.0/batches", json={"operations": []}, auth=auth, timeout=10).ok
    with pytest.raises(ApiClientError) as caught:
        mailchimp.batches.start({"operations": []})
    problem = json.loads(caught.value.text)
    validate_problem(problem)
    assert caught.value.status_code == 429 and problem["title"] == "Too Many Requests"
    book.step(4)  # the first batch (no operations) finishes: room for one more
    assert mailchimp.batches.start({"operations": []})["status"] == "pending"
    assert mailchimp.batches.list(count=1)["total_items"] == 501


# -- list, status, delete --------------------------------------------------------------------------------
def test_list_pages_with_count_and_offset(mailchimp, book):
    book.hold()
    ids = [mailchimp.batches.start({"operations": []})["id"] for _ in range(3)]
    page = mailchimp.batches.list(count=2, offset=1)
    for b in page["batches"]:
        _validate_batch("GET", BATCH, b)
    validate_response("GET", "/batches", {**page, "batches": []})
    assert page["total_items"] == 3 and [b["id"] for b in page["batches"]] == ids[1:]
    assert mailchimp.batches.list(fields=["total_items"]) == {"total_items": 3}


def test_delete_stops_and_forgets_a_batch(mailchimp, book, list_id):
    book.hold()
    a, b = _subscribed(mailchimp, list_id, 2)
    ops = [_op("PATCH", f"/lists/{list_id}/members/{m['id']}", {"merge_fields": {"FNAME": "Deleted"}}) for m in (a, b)]
    running = mailchimp.batches.start({"operations": ops})["id"]
    queued = mailchimp.batches.start({"operations": ops})["id"]
    book.step(3)  # the first operation of the running batch has run
    for bid in (running, queued):
        answer = mailchimp.batches.delete_request(bid)
        assert answer.status_code == 204
        with pytest.raises(ApiClientError) as caught:
            mailchimp.batches.status(bid)
        assert caught.value.status_code == 404
    book.release()
    assert book.step() is None
    assert mailchimp.lists.get_list_member(list_id, a["id"])["merge_fields"]["FNAME"] == "Deleted"  # done stays done
    assert mailchimp.lists.get_list_member(list_id, b["id"])["merge_fields"]["FNAME"] == b["merge_fields"]["FNAME"]
    with pytest.raises(ApiClientError) as caught:
        mailchimp.batches.delete_request("0123456789")
    assert caught.value.status_code == 404 and json.loads(caught.value.text)["title"] == "Resource Not Found"


def test_a_reset_forgets_batches_and_runs_none_of_them(mailchimp, book, list_id, sandbox):
    book.hold()
    member = _subscribed(mailchimp, list_id, 1)[0]
    bid = mailchimp.batches.start(
        {"operations": [_op("PATCH", f"/lists/{list_id}/members/{member['id']}", {"merge_fields": {"FNAME": "Ghost"}})]}
    )["id"]
    sandbox.world.reset()
    book.release()
    assert book.step() is None
    with pytest.raises(ApiClientError):
        mailchimp.batches.status(bid)
    assert mailchimp.lists.get_list_member(list_id, member["id"])["merge_fields"]["FNAME"] != "Ghost"
