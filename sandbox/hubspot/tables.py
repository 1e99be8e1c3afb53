"""CRM object tables: an overlay of records written through the API over an optional lazy base layer.

Contacts have a base layer (the population, built on demand per persona); tasks and notes do not.
Nothing is materialized per persona at start-up: a persona's record is built when it is read, and
copied into the overlay only when it is written.

Property history (`propertiesWithHistory`): every change of a value is kept per record and property as
(timestamp, value, source), a cleared value as "". A base-layer record's initial values are not stored:
their one entry each is derived from the base record when asked (see `initial_history`), so untouched
contacts cost nothing. Entries of one property never go back in time: a change dated before the
property's newest entry (an injected event with an old timestamp) is recorded at that entry's time, so
the newest entry always holds the current value, as HubSpot shows it.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sandbox.hubspot.index import TimeIndex
from sandbox.hubspot.schema import InvalidValue, Schema
from sandbox.timefmt import hubspot_ts


@dataclass
class Record:
    id: str
    props: dict[str, str]  # stored values; a missing key is null
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None

    def copy(self) -> Record:
        return Record(self.id, dict(self.props), self.created_ms, self.updated_ms, self.archived, self.archived_ms)


class NotFound(Exception):
    """No live record with that id (or unique property value)."""


class Conflict(Exception):
    """A unique value (email) is held by another record: `existing_id`."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


class Invalid(Exception):
    """Property values were not valid: one InvalidValue per problem."""

    def __init__(self, problems: list[InvalidValue]) -> None:
        super().__init__(problems[0].message if problems else "invalid")
        self.problems = problems


class BaseLayer(Protocol):
    """Records that exist without having been written through the API (the population's contacts)."""

    def record(self, rid: int) -> Record | None: ...
    def ids_after(self, after: int) -> Iterator[int]: ...
    def id_of_email(self, key: str) -> int | None: ...
    def count(self) -> int: ...
    def timestamps(self, kind: str) -> tuple[np.ndarray, np.ndarray]: ...


class Table:
    """One object type's records. Ids are decimal strings; ids created here come from `next_id` upwards."""

    created_prop, modified_prop = "hs_createdate", "hs_lastmodifieddate"
    default_props: tuple[str, ...] = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
    query_props: tuple[str, ...] = ()

    def __init__(
        self, object_type: str, schema: Schema, clock: Any, first_id: int, base: BaseLayer | None = None
    ) -> None:
        self.object_type, self.schema, self.clock, self.base = object_type, schema, clock, base
        self.first_id = self.next_id = first_id  # ids below first_id belong to the base layer
        self.rows: dict[str, Record] = {}  # overlay: every record written or created through the API
        self.gone: set[str] = set()  # merged away: 404 everywhere
        self._created: list[int] = []  # ids created here, ascending (append-only)
        self._stale_base: set[int] = set()  # base ids superseded by a row or gone
        self._indexes: dict[str, TimeIndex] = {}
        self._history: dict[str, dict[str, list[tuple[int, str, dict[str, str]]]]] = {}  # id -> name -> oldest first
        self.default_source: dict[str, str] = {"sourceType": "INTEGRATION"}  # the writer when none is named

    # -- reads ----------------------------------------------------------------------------------
    def get(self, rid: str, archived: bool = False) -> Record | None:
        """The record with id `rid` (archived ones only when `archived`), or None."""
        row = self.rows.get(rid)
        if row is not None:
            return row if row.archived == archived else None
        if archived or rid in self.gone or self.base is None or not rid.isdigit():
            return None
        return self.base.record(int(rid))

    def require(self, rid: str) -> Record:
        rec = self.get(rid)
        if rec is None:
            raise NotFound(rid)
        return rec

    def iter_live(self, after: int = -1) -> Iterator[Record]:
        """Live records with id > after, ascending by id."""
        if self.base is not None:
            for rid in self.base.ids_after(after):
                if rid in self._stale_base:
                    row = self.rows.get(str(rid))
                    if row is not None and not row.archived:
                        yield row
                    continue
                rec = self.base.record(rid)
                if rec is not None:
                    yield rec
        for rid in self._created[bisect.bisect_right(self._created, after) :]:
            row = self.rows.get(str(rid))
            if row is not None and not row.archived:
                yield row

    def iter_archived(self, after: int = -1) -> Iterator[Record]:
        rows = sorted((int(r.id), r) for r in self.rows.values() if r.archived and int(r.id) > after)
        return (r for _, r in rows)

    def live_count(self) -> int:
        base = self.base.count() - len(self._stale_base) if self.base is not None else 0
        return base + sum(1 for r in self.rows.values() if not r.archived)

    def record_by_int(self, rid: int) -> Record | None:
        return self.get(str(rid))

    # -- writes -----------------------------------------------------------------------------------
    def clean(self, values: dict[str, Any]) -> dict[str, str]:
        """Validate every value; raises Invalid listing every problem."""
        cleaned, problems = {}, []
        for name, raw in values.items():
            try:
                cleaned[name] = self.schema.clean(name, raw)
            except InvalidValue as exc:
                problems.append(InvalidValue(exc.name or name, exc.code, exc.message))
        if problems:
            raise Invalid(problems)
        return cleaned

    def create(self, cleaned: dict[str, str], source: dict[str, str] | None = None) -> Record:
        """A new record from validated values, written by `source` (history)."""
        now = self.clock.now_ms()
        rid = str(self.next_id)
        self.next_id += 1
        rec = Record(rid, {"hs_object_id": rid}, now, now)
        rec.props[self.created_prop] = hubspot_ts(now)
        self._apply(rec, cleaned, now)
        self._touch(rec, now)
        self.rows[rid] = rec
        self._created.append(int(rid))
        self._reindex(rec)
        self.record_changes(rec, {}, now, source)
        return rec

    def update(self, rid: str, cleaned: dict[str, str], source: dict[str, str] | None = None) -> Record:
        """Apply validated values to live record `rid`, written by `source` (history); raises NotFound."""
        rec = self.materialize(rid)
        before = dict(rec.props)
        now = self.clock.now_ms()
        self._apply(rec, cleaned, now)
        self._touch(rec, now)
        self._reindex(rec)
        self.record_changes(rec, before, now, source)
        return rec

    def archive(self, rid: str) -> bool:
        """Archive a live record; False when there is none."""
        rec = self.get(rid)
        if rec is None:
            return False
        rec = self.materialize(rid)
        rec.archived, rec.archived_ms = True, self.clock.now_ms()
        self._unindex(rec)
        return True

    def remove(self, rid: str) -> None:
        """Make `rid` gone for good (merged away)."""
        rec = self.rows.pop(rid, None)
        if rec is not None:
            self._unindex(rec)
        self.gone.add(rid)
        if self.base is not None and rid.isdigit() and int(rid) < self.first_id:
            self._stale_base.add(int(rid))

    def materialize(self, rid: str) -> Record:
        """The overlay row of live record `rid`, copying the base record in on first write."""
        rec = self.get(rid)
        if rec is None:
            raise NotFound(rid)
        if rid not in self.rows:
            rec = rec.copy()
            self.rows[rid] = rec
            self._stale_base.add(int(rid))
        return rec

    def touch(self, rec: Record) -> None:
        self._touch(rec, self.clock.now_ms())
        self._reindex(rec)

    def _apply(self, rec: Record, cleaned: dict[str, str], now: int) -> None:
        for name, value in cleaned.items():
            if value == "":
                rec.props.pop(name, None)
            else:
                rec.props[name] = value

    def _touch(self, rec: Record, now: int) -> None:
        rec.updated_ms = now
        rec.props[self.modified_prop] = hubspot_ts(now)

    # -- history ---------------------------------------------------------------------------------------
    def record_changes(self, rec: Record, before: dict[str, str], ts: int, source: dict[str, str] | None) -> None:
        """Add a history entry for every property whose value differs from `before`, dated `ts` (the
        modified-date property at its own value's time), by `source` (default: `default_source`)."""
        props, source = rec.props, source or self.default_source
        changed = [n for n in props.keys() | before.keys() if props.get(n) != before.get(n)]
        if not changed:
            return
        stored = self._history.setdefault(rec.id, {})
        initial: dict[str, tuple[int, str, dict[str, str]]] | None = None
        for name in changed:
            entries = stored.setdefault(name, [])
            if entries:
                floor = entries[-1][0]
            else:
                if initial is None:
                    initial = self.initial_history(rec.id)
                floor = initial[name][0] if name in initial else ts
            when = rec.updated_ms if name == self.modified_prop else ts
            entries.append((max(when, floor), props.get(name) or "", source))

    def initial_history(self, rid: str) -> dict[str, tuple[int, str, dict[str, str]]]:
        """The derived first entry of each property of base record `rid` (none for records created here)."""
        return {}

    def history(self, rec: Record, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        """`propertiesWithHistory` of `rec`: each known property among `names`, its entries newest first
        (unknown names are left out, as HubSpot ignores them)."""
        stored = self._history.get(rec.id, {})
        initial = self.initial_history(rec.id)
        out: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            if name not in self.schema.properties or name in out:
                continue
            entries = list(reversed(stored.get(name, ())))
            if name in initial:
                entries.append(initial[name])
            out[name] = [{"value": value, "timestamp": hubspot_ts(ts), **source} for ts, value, source in entries]
        return out

    # -- time indexes ------------------------------------------------------------------------------
    def time_index(self, prop: str) -> TimeIndex | None:
        """The index for a created/modified timestamp property, built on first use; None for others."""
        kind = {self.created_prop: "created", self.modified_prop: "updated"}.get(prop)
        if kind is None:
            return None
        index = self._indexes.get(kind)
        if index is None:
            ids, ts = (
                self.base.timestamps(kind) if self.base is not None else (np.empty(0, np.int64), np.empty(0, np.int64))
            )
            index = TimeIndex(ids, ts, self._stale_base.__contains__, lambda: self._stale_base)
            for row in self.rows.values():
                if not row.archived:
                    index.set(int(row.id), row.created_ms if kind == "created" else row.updated_ms)
            self._indexes[kind] = index
        return index

    def _reindex(self, rec: Record) -> None:
        for kind, index in self._indexes.items():
            index.set(int(rec.id), rec.created_ms if kind == "created" else rec.updated_ms)

    def _unindex(self, rec: Record) -> None:
        for index in self._indexes.values():
            index.remove(int(rec.id))

    # -- rendering -----------------------------------------------------------------------------------
    def _shown(self, wanted: list[str] | None) -> tuple[str, ...] | list[str]:
        """The property names a rendered record holds: the defaults, then the known requested ones."""
        if not wanted:
            return self.default_props
        names = list(self.default_props)
        for name in wanted:
            if name in self.schema.properties and name not in names:
                names.append(name)
        return names

    def render(self, rec: Record, wanted: list[str] | None) -> dict[str, Any]:
        """The SimplePublicObject: requested properties (or the defaults) plus the defaults, strings or null."""
        props = rec.props
        body: dict[str, Any] = {
            "id": rec.id,
            "properties": {n: props.get(n) for n in self._shown(wanted)},
            # the timestamp properties already hold these instants formatted (formatting dominates a page)
            "createdAt": props.get(self.created_prop) or hubspot_ts(rec.created_ms),
            "updatedAt": props.get(self.modified_prop) or hubspot_ts(rec.updated_ms),
            "archived": rec.archived,
        }
        if rec.archived and rec.archived_ms is not None:
            body["archivedAt"] = hubspot_ts(rec.archived_ms)
        return body

    def render_json(self, rec: Record, wanted: list[str] | None) -> str:
        """json_text(self.render(rec, wanted)), built without the intermediate dicts."""
        return self.render_json_many([rec], wanted)[0]

    def render_json_many(self, records: list[Record], wanted: list[str] | None) -> list[str]:
        """[self.render_json(rec, wanted) for rec in records]: a page's records, the shown names worked out once."""
        names = self._shown(wanted)
        keys = [_encode_str(name) + ":" for name in names]
        created_prop, modified_prop = self.created_prop, self.modified_prop
        enc = _encode_str
        out = []
        for rec in records:
            props = rec.props
            shown = [
                key + (enc(value) if type(value) is str else json_value(value))
                for key, value in zip(keys, map(props.get, names))
            ]
            archived = rec.archived
            text = "".join(
                (
                    '{"id":',
                    json_value(rec.id),
                    ',"properties":{',
                    ",".join(shown),
                    '},"createdAt":',
                    json_value(props.get(created_prop) or hubspot_ts(rec.created_ms)),
                    ',"updatedAt":',
                    json_value(props.get(modified_prop) or hubspot_ts(rec.updated_ms)),
                    ',"archived":',
                    json_value(archived),
                )
            )
            if archived and rec.archived_ms is not None:
                text += ',"archivedAt":' + json_value(hubspot_ts(rec.archived_ms))
            out.append(text + "}")
        return out


def json_text(content: Any) -> str:
    """`content` as JSON text exactly as starlette's JSONResponse encodes it (before the UTF-8 bytes)."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


_encode_str = json.encoder.encode_basestring  # the string encoder json.dumps(ensure_ascii=False) uses


def json_value(value: Any) -> str:
    """json_text(value), with the usual scalars (strings, null, booleans) done directly."""
    if type(value) is str:
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return json_text(value)


POPULATION_SOURCE = {"sourceType": "IMPORT"}


class ContactTable(Table):
    """Contacts: unique emails (case-insensitive), lifecycle stages that only move forward."""

    created_prop, modified_prop = "createdate", "lastmodifieddate"
    default_props = ("createdate", "email", "firstname", "lastname", "hs_object_id", "lastmodifieddate")
    query_props = ("email", "firstname", "lastname", "phone", "company", "hs_additional_emails")

    def __init__(self, schema: Schema, clock: Any, first_id: int, base: BaseLayer) -> None:
        super().__init__("contacts", schema, clock, first_id, base)
        self._emails: dict[str, str] = {}  # lowercased email of overlay rows (and merged-in emails) -> id

    def id_of_email(self, email: str) -> str | None:
        """The live contact holding `email` (case-insensitive), or None."""
        key = email.strip().lower()
        rid = self._emails.get(key)
        if rid is not None:
            rec = self.rows.get(rid)
            return rid if rec is not None and not rec.archived else None
        assert self.base is not None
        found = self.base.id_of_email(key)
        if found is None or found in self._stale_base:
            return None
        return str(found)

    def check_email_free(self, email: str, rid: str | None) -> None:
        """Raises Conflict when another live contact holds `email`."""
        holder = self.id_of_email(email)
        if holder is not None and holder != rid:
            raise Conflict(holder)

    def materialize(self, rid: str) -> Record:
        fresh = rid not in self.rows
        rec = super().materialize(rid)
        email = rec.props.get("email")
        if fresh and email:
            self._emails.setdefault(email.strip().lower(), rid)
        return rec

    def create(self, cleaned: dict[str, str], source: dict[str, str] | None = None) -> Record:
        if cleaned.get("email"):
            self.check_email_free(cleaned["email"], None)
        cleaned.setdefault("num_conversion_events", "0")
        return super().create(cleaned, source)

    def update(self, rid: str, cleaned: dict[str, str], source: dict[str, str] | None = None) -> Record:
        self.require(rid)
        if cleaned.get("email"):
            self.check_email_free(cleaned["email"], rid)
        return super().update(rid, cleaned, source)

    def initial_history(self, rid: str) -> dict[str, tuple[int, str, dict[str, str]]]:
        """A population contact's initial values, one entry each: dated at its createdate (the modified date
        at its own value), source IMPORT (assumed: the population stands for contacts imported before the
        sandbox's "now"; HubSpot's sourceType for an import is IMPORT)."""
        if self.base is None or not rid.isdigit() or int(rid) >= self.first_id:
            return {}
        rec = self.base.record(int(rid))
        if rec is None:
            return {}
        modified, created = self.modified_prop, rec.created_ms
        return {
            name: (rec.updated_ms if name == modified else created, value, POPULATION_SOURCE)
            for name, value in rec.props.items()
        }

    def archive(self, rid: str) -> bool:
        done = super().archive(rid)
        if done:
            self._forget_emails(rid)
        return done

    def remove(self, rid: str) -> None:
        self._forget_emails(rid)
        super().remove(rid)

    def alias_email(self, email: str, rid: str) -> None:
        """Make `email` resolve to `rid` (a merged-away contact's address)."""
        self._emails[email.strip().lower()] = rid

    def _forget_emails(self, rid: str) -> None:
        for key in [k for k, v in self._emails.items() if v == rid]:
            del self._emails[key]

    def _apply(self, rec: Record, cleaned: dict[str, str], now: int) -> None:
        cleaned = dict(cleaned)
        stage = cleaned.pop("lifecyclestage", None)
        new_email = cleaned.get("email")
        old_email = rec.props.get("email")
        super()._apply(rec, cleaned, now)
        if "email" in cleaned:
            if old_email and self._emails.get(old_email.strip().lower()) == rec.id:
                del self._emails[old_email.strip().lower()]
            if new_email:
                self._emails[new_email.strip().lower()] = rec.id
        if stage is not None:
            self._move_stage(rec, stage, now)

    def _move_stage(self, rec: Record, stage: str, now: int) -> None:
        """Forward moves apply; a backward one is silently ignored unless the stage was cleared first."""
        if stage == "":
            rec.props.pop("lifecyclestage", None)
            return
        order = self.schema.properties["lifecyclestage"].option_values()
        current = rec.props.get("lifecyclestage") or ""
        if current and current in order and order.index(stage) <= order.index(current):
            return
        rec.props["lifecyclestage"] = stage
        date_prop = f"hs_lifecyclestage_{stage}_date"
        if date_prop in self.schema.properties:
            rec.props[date_prop] = hubspot_ts(now)
