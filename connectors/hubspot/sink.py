"""Writing to HubSpot: property schema, batched contact updates, exactly-once tasks and notes.

`HubSpotConnector` (bottom) is the read side and the write side together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.errors import retry_hook
from connectors.hubspot import translate as t
from connectors.hubspot.source import HubSpotSource
from contracts.errors import FatalError, RetriableError, SkippableError
from contracts.records import Outcome

_PER_RECORD = (400, 404, 409, 422)  # a whole-batch failure that one bad item can cause
_ENGAGEMENT_TYPES = {"tasks": t.TASK_TO_CONTACT, "notes": t.NOTE_TO_CONTACT}


class HubSpotSink(HubSpotSource):
    """Write side of the HubSpot connector (see HubSpotCalls for the constructor)."""

    # -- schema ----------------------------------------------------------------------------------
    def ensure_property_group(self, object_type: str, name: str, label: str) -> bool:
        """Create the property group unless it exists. Returns True if it was created now.

        Raises FatalError/RetriableError (a 409 "already exists" is success, not an error).
        """
        try:
            self._call(
                "hubspot.property_groups.create",
                self.client.property_groups.create,
                object_type,
                {"name": name, "label": label},
            )
        except FatalError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def ensure_properties(self, object_type: str, defs: Sequence[dict[str, Any]]) -> list[str]:
        """Create the properties of `defs` (PropertyCreate dicts: name label type fieldType groupName
        [options]) that do not exist yet; existing ones are left untouched. Returns the names created.

        Raises FatalError (e.g. an invalid definition) / RetriableError.
        """
        existing = {p.get("name") for p in self.get_properties(object_type)}
        created: list[str] = []
        for definition in defs:
            if definition["name"] in existing:
                continue
            try:
                self._call("hubspot.properties.create", self.client.properties.create, object_type, dict(definition))
            except FatalError as exc:
                if exc.status != 409:  # created concurrently by another replica: fine
                    raise
                continue
            created.append(definition["name"])
        return created

    # -- contacts ----------------------------------------------------------------------------------
    def update_contacts(self, inputs: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Batch-update contacts ({"id", "properties"}), 100 per call. Returns one Outcome per input, in order.

        A 207 marks the items it names as failed (skippable) and the rest as done. A whole-batch
        400/404/409/422 is split in halves until the bad items are isolated: they get
        Outcome(ok=False, skippable=True), the others are written. Raises FatalError (bad token,
        daily limit) and RetriableError (after retries) for the batch as a whole.
        """
        outcomes: dict[str, Outcome] = {}
        for chunk in t.chunks(list(inputs), self.batch_size):
            self._update_batch([{"id": str(i["id"]), "properties": i["properties"]} for i in chunk], outcomes)
        return [outcomes[str(i["id"])] for i in inputs]

    def _update_batch(self, items: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> None:
        single = len(items) == 1
        try:
            reply = self._call(
                "hubspot.contacts.batch_update",
                self.client.contacts_batch.update,
                {"inputs": items},
                record_key=items[0]["id"] if single else None,
            )
        except SkippableError as exc:  # only a batch of one is classified per record
            outcomes[items[0]["id"]] = Outcome(
                items[0]["id"], False, error=str(exc), skippable=True, detail={"status": exc.status}
            )
            return
        except FatalError as exc:
            if single or exc.status not in _PER_RECORD:
                raise
            middle = len(items) // 2
            self._update_batch(items[:middle], outcomes)
            self._update_batch(items[middle:], outcomes)
            return
        body = reply.body or {}
        done = {str(r.get("id")) for r in body.get("results") or []}
        errors = body.get("errors") or []
        named = t.error_ids(errors)
        message = "; ".join(str(e.get("message", "")) for e in errors)[:500] or "no result reported"
        for item in items:
            if item["id"] in done:
                outcomes[item["id"]] = Outcome(item["id"], True)
            elif item["id"] in named or single:
                outcomes[item["id"]] = Outcome(
                    item["id"], False, error=message, skippable=True, detail={"status": reply.status}
                )
            else:  # neither confirmed nor blamed: ask about it alone
                self._update_batch([item], outcomes)

    def create_contacts(self, inputs: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Batch-create contacts ({"key", "properties"} with "email"), 100 per call. Returns one Outcome per
        input, in order: ok with detail {"id", "existing": False} for a contact created now, or {"id",
        "existing": True} when HubSpot answers that a contact with that email exists (409 CONFLICT "Contact
        already exists. Existing ID: N", for a whole batch or, in a 207, for an item): already there, so
        linked rather than created again. Other refusals of one input are skippable failures (a batch
        refused as a whole is split in halves until the bad input is alone). Raises FatalError,
        RetriableError for the batch as a whole."""
        outcomes: dict[str, Outcome] = {}
        for chunk in t.chunks(list(inputs), self.batch_size):
            self._create_batch(list(chunk), outcomes)
        return [outcomes[str(i["key"])] for i in inputs]

    def _create_batch(self, items: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> None:
        single = len(items) == 1
        try:
            reply = self._call(
                "hubspot.contacts.batch_create",
                self.client.contacts_batch.create,
                {"inputs": [{"properties": dict(i["properties"]), "associations": []} for i in items]},
                record_key=str(items[0]["key"]) if single else None,
            )
        except (SkippableError, FatalError) as exc:
            if isinstance(exc, FatalError) and (exc.status not in _PER_RECORD or single):
                raise
            found = t.existing_id({"message": str(exc)}) if exc.status == 409 else None
            if single:
                key = str(items[0]["key"])
                outcomes[key] = (
                    Outcome(key, True, detail={"id": found, "existing": True})
                    if found
                    else Outcome(key, False, error=str(exc), skippable=True, detail={"status": exc.status})
                )
                return
            middle = len(items) // 2
            self._create_batch(items[:middle], outcomes)
            self._create_batch(items[middle:], outcomes)
            return
        body = reply.body or {}
        by_email = {
            str((r.get("properties") or {}).get("email") or "").strip().lower(): str(r.get("id"))
            for r in body.get("results") or []
        }
        errors = body.get("errors") or []
        for item in items:
            key, email = str(item["key"]), str(item["properties"].get("email") or "").strip().lower()
            if email in by_email:
                outcomes[key] = Outcome(key, True, detail={"id": by_email[email], "existing": False})
        left = [i for i in items if str(i["key"]) not in outcomes]
        if not left:
            return
        if single or len(left) == 1:
            # a 207 naming the conflict of this one input (or not naming it at all)
            key = str(left[0]["key"])
            found = next((t.existing_id(e) for e in errors if e.get("category") == "CONFLICT"), None)
            message = "; ".join(str(e.get("message", "")) for e in errors)[:500] or "no result reported"
            outcomes[key] = (
                Outcome(key, True, detail={"id": found, "existing": True})
                if found
                else Outcome(key, False, error=message, skippable=True, detail={"status": reply.status})
            )
            return
        for item in left:  # several unconfirmed: each alone tells which conflict is whose
            self._create_batch([item], outcomes)

    # -- tasks and notes, exactly once ----------------------------------------------------------------
    def create_task(
        self,
        contact_id: str,
        owner_id: str | None,
        properties: dict[str, Any],
        idempotency_key: str,
        check_existing: bool = False,
    ) -> str:
        """Create a task on `contact_id`, assigned to `owner_id`, at most once per `idempotency_key`.

        `properties` holds hs_timestamp (required), hs_task_subject, hs_task_body, hs_task_priority...;
        the key is appended to hs_task_body as a last line `syncd-ref: <key>`. With check_existing
        (the outbox says a previous attempt may have succeeded) an existing task with the key is
        returned instead. A retry after an ambiguous failure (timeout, dropped connection, 5xx) always
        looks first, so a lost response never makes a duplicate. Returns the task id.
        Raises ValueError (empty key), SkippableError (HubSpot refuses this task, e.g. an unknown owner or
        contact), FatalError, RetriableError.
        """
        props = {**properties, "hs_task_body": t.with_marker(properties.get("hs_task_body", ""), idempotency_key)}
        if owner_id:
            props["hubspot_owner_id"] = str(owner_id)
        return self._create_once("tasks", contact_id, props, idempotency_key, check_existing)

    def create_note(
        self, contact_id: str, body_html: str, timestamp_ms: int, idempotency_key: str, check_existing: bool = False
    ) -> str:
        """Create a note on `contact_id` at `timestamp_ms`, at most once per `idempotency_key` (see
        create_task). Returns the note id. Raises ValueError (empty key), SkippableError, FatalError,
        RetriableError."""
        props = {"hs_timestamp": str(int(timestamp_ms)), "hs_note_body": t.with_marker(body_html, idempotency_key)}
        return self._create_once("notes", contact_id, props, idempotency_key, check_existing)

    def create_engagements(self, object_type: str, items: Sequence[dict[str, Any]]) -> list[Outcome]:
        """Create tasks or notes (`object_type` "tasks" | "notes") 100 a call
        (POST /crm/v3/objects/{type}/batch/create), each at most once per its key.

        `items`: {"key", "contact_id", "properties", "maybe"}; `properties` as HubSpot takes them
        (hs_timestamp, hs_task_subject / hs_task_body, hubspot_owner_id..., or hs_note_body); the key is
        appended to the body as its last line `syncd-ref: <key>`. `maybe` says an earlier attempt may
        have created it (its outbox row was left `attempted`): such items are looked up by key first, and
        so is every item of a batch whose answer was lost (timeout, dropped connection, 5xx) before the
        batch is sent again. A lookup costs one v4 association batch read per 1,000 contacts and one batch
        read per 100 of their engagements.

        HubSpot does not promise the results in the order of the inputs, so each result is matched to its
        item by the marker in its body. Returns one Outcome per item, in order: ok with detail {"id"}
        (plus "recovered": True when found rather than created), or a skippable failure with HubSpot's
        message: a batch refused as a whole (400/404/409/422, as one bad owner or contact id makes it)
        is split in halves until the refused item is alone. Raises ValueError (bad object_type, an empty
        key), FatalError and RetriableError for a batch as a whole."""
        if object_type not in _ENGAGEMENT_TYPES:
            raise ValueError(f"object_type must be 'tasks' or 'notes', not {object_type!r}")
        prop = t.BODY_PROPERTY[object_type]
        prepared = []
        for item in items:
            key = str(item["key"])
            props = {**item["properties"], prop: t.with_marker(item["properties"].get(prop, ""), key)}
            prepared.append(
                {
                    "key": key,
                    "marker": t.marker_value(key),
                    "contact_id": str(item["contact_id"]),
                    "properties": props,
                    "maybe": bool(item.get("maybe")),
                }
            )
        outcomes: dict[str, Outcome] = {}
        for chunk in t.chunks(prepared, self.batch_size):
            self._engagement_batch(object_type, list(chunk), outcomes)
        return [outcomes[str(i["key"])] for i in items]

    def _engagement_batch(self, object_type: str, items: list[dict[str, Any]], outcomes: dict[str, Outcome]) -> None:
        batch = self.client.tasks_batch if object_type == "tasks" else self.client.notes_batch
        endpoint = f"hubspot.{object_type}.batch_create"
        type_id = _ENGAGEMENT_TYPES[object_type]
        maybe = {i["key"] for i in items if i["maybe"]}

        def attempt() -> list[dict[str, Any]]:
            """Send what is neither found nor created yet; returns the items still unaccounted for."""
            pending = [i for i in items if i["key"] not in outcomes]
            look = [i for i in pending if i["key"] in maybe]
            if look:
                found = self._find_markers(object_type, look, retried=False)
                for i in look:
                    if i["marker"] in found:
                        outcomes[i["key"]] = Outcome(
                            i["key"], True, detail={"id": found[i["marker"]], "recovered": True}
                        )
                pending = [i for i in pending if i["key"] not in outcomes]
            if not pending:
                return []
            inputs = [
                {"properties": i["properties"], "associations": t.association(i["contact_id"], type_id)}
                for i in pending
            ]
            try:
                reply = self._call(
                    endpoint,
                    batch.create,
                    {"inputs": inputs},
                    retried=False,
                    record_key=pending[0]["key"] if len(pending) == 1 else None,
                )
            except RetriableError:
                maybe.update(i["key"] for i in pending)  # the batch may have landed: look before sending again
                raise
            created: dict[str, str] = {}
            for record in (reply.body or {}).get("results") or []:
                for marker in t.markers_in((record.get("properties") or {}).get(t.BODY_PROPERTY[object_type])):
                    created[marker] = str(record.get("id"))
            for i in pending:
                if i["marker"] in created:
                    outcomes[i["key"]] = Outcome(i["key"], True, detail={"id": created[i["marker"]]})
            left = [i for i in pending if i["key"] not in outcomes]
            errors = (reply.body or {}).get("errors") or []
            if left and len(pending) == 1:
                message = "; ".join(str(e.get("message", "")) for e in errors)[:500] or "no result reported"
                outcomes[left[0]["key"]] = Outcome(
                    left[0]["key"], False, error=message, skippable=True, detail={"status": reply.status}
                )
                return []
            maybe.update(i["key"] for i in left)  # neither confirmed nor blamed: each alone, after a look
            return left

        try:
            left = self._retry(attempt, on_retry=retry_hook(self.stats, endpoint))
        except SkippableError as exc:  # the one item left was refused
            key = next(i["key"] for i in items if i["key"] not in outcomes)
            outcomes[key] = Outcome(key, False, error=str(exc), skippable=True, detail={"status": exc.status})
            return
        except FatalError as exc:
            pending = [i for i in items if i["key"] not in outcomes]
            if exc.status not in _PER_RECORD or len(pending) <= 1:
                raise
            for i in pending:  # refused as a whole: nothing of this send was created
                i["maybe"] = i["key"] in maybe
            middle = len(pending) // 2
            self._engagement_batch(object_type, pending[:middle], outcomes)
            self._engagement_batch(object_type, pending[middle:], outcomes)
            return
        for i in left:
            i["maybe"] = True
            self._engagement_batch(object_type, [i], outcomes)

    def _find_markers(self, object_type: str, items: list[dict[str, Any]], *, retried: bool) -> dict[str, str]:
        """{marker: engagement id} for the markers of `items` found on their contacts' engagements."""
        wanted = {i["marker"] for i in items}
        ids = self._associated_ids_batch(sorted({i["contact_id"] for i in items}), object_type, retried)
        batch = self.client.tasks_batch if object_type == "tasks" else self.client.notes_batch
        prop = t.BODY_PROPERTY[object_type]
        found: dict[str, str] = {}
        for chunk in t.chunks(ids, self.batch_size):
            reply = self._call(
                f"hubspot.{object_type}.batch_read",
                batch.read,
                {"inputs": [{"id": i} for i in chunk], "properties": [prop]},
                archived=False,
                retried=retried,
            )
            for record in (reply.body or {}).get("results") or []:
                for marker in t.markers_in((record.get("properties") or {}).get(prop)) & wanted:
                    found[marker] = str(record["id"])
        return found

    def _associated_ids_batch(self, contact_ids: list[str], object_type: str, retried: bool) -> list[str]:
        """The ids of every `object_type` record associated with any of `contact_ids` (v4 batch reads,
        reading on with each input's own `after` while HubSpot pages it). A contact with none (or one that
        no longer exists) is an error item of the 207, which is no error here."""
        ids: list[str] = []
        todo: list[tuple[str, str | None]] = [(c, None) for c in contact_ids]
        while todo:
            chunk, todo = todo[: t.ASSOCIATIONS_BATCH_MAX], todo[t.ASSOCIATIONS_BATCH_MAX :]
            reply = self._call(
                "hubspot.associations.batch_read",
                self.client.associations_batch.get_page,
                "contacts",
                object_type,
                {"inputs": [{"id": c, **({"after": a} if a else {})} for c, a in chunk]},
                retried=retried,
            )
            for result in (reply.body or {}).get("results") or []:
                ids.extend(str(link["toObjectId"]) for link in result.get("to") or [])
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    todo.append((str((result.get("from") or {}).get("id")), str(after)))
        return list(dict.fromkeys(ids))

    def find_by_key(self, contact_id: str, object_type: str, key: str) -> str | None:
        """The id of the task or note (`object_type` "tasks" | "notes") of `contact_id` whose body carries
        `syncd-ref: <key>`, or None. Costs 1 associations call per 500 engagements + 1 batch read per 100.
        Raises ValueError (bad object_type, empty key), SkippableError (unknown contact), FatalError,
        RetriableError."""
        return self._find(contact_id, object_type, key, retried=True)

    def _create_once(
        self, object_type: str, contact_id: str, props: dict[str, Any], key: str, check_existing: bool
    ) -> str:
        api = self.client.tasks_basic if object_type == "tasks" else self.client.notes_basic
        body = {"properties": props, "associations": t.association(contact_id, _ENGAGEMENT_TYPES[object_type])}
        endpoint = f"hubspot.{object_type}.create"
        sent = {"maybe": check_existing}

        def attempt() -> str:
            if sent["maybe"]:
                found = self._find(contact_id, object_type, key, retried=False)
                if found is not None:
                    return found
            sent["maybe"] = True  # from here on a failure is ambiguous: the POST may have landed
            reply = self._call(endpoint, api.create, body, retried=False, record_key=str(contact_id))
            return str((reply.body or {})["id"])

        return self._retry(attempt, on_retry=retry_hook(self.stats, endpoint))

    def _find(self, contact_id: str, object_type: str, key: str, *, retried: bool) -> str | None:
        if object_type not in _ENGAGEMENT_TYPES:
            raise ValueError(f"object_type must be 'tasks' or 'notes', not {object_type!r}")
        t.marker_value(key)  # refuse an empty key before any call
        ids = self._associated_ids(contact_id, object_type, retried)
        batch = self.client.tasks_batch if object_type == "tasks" else self.client.notes_batch
        prop = t.BODY_PROPERTY[object_type]
        for chunk in t.chunks(ids, self.batch_size):
            reply = self._call(
                f"hubspot.{object_type}.batch_read",
                batch.read,
                {"inputs": [{"id": i} for i in chunk], "properties": [prop]},
                archived=False,
                retried=retried,
                record_key=str(contact_id),
            )
            for record in (reply.body or {}).get("results") or []:
                if t.carries_key((record.get("properties") or {}).get(prop), key):
                    return str(record["id"])
        return None

    def _associated_ids(self, contact_id: str, object_type: str, retried: bool) -> list[str]:
        ids: list[str] = []
        after: str | None = None
        while True:
            page = self.associations_page(contact_id, object_type, after, retried=retried, record_key=str(contact_id))
            ids.extend(str(r["toObjectId"]) for r in page.records)
            after = page.next
            if after is None:
                return list(dict.fromkeys(ids))


class HubSpotConnector(HubSpotSink):
    """HubSpotConnector(client, stats, retry=retry_call, budget=None): everything syncd does with HubSpot."""
