"""Plain status views (the shape documented in syncd/web/status.py) and a small HTML tree for the status
page's tests."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

GENERATED_AT = "2026-01-20T12:00:00Z"


def trend(days: int = 10) -> list[dict[str, Any]]:
    """A trend whose counts differ day to day, so a bar drawn from the wrong day shows."""
    return [
        {
            "day": f"2026-01-{d + 1:02d}",
            "cold": 300 + 20 * d,
            "warm": 100 + 15 * d,
            "hot": 40 + 10 * d,
            "reengage": 60 - 3 * d,
        }
        for d in range(days)
    ]


def workspace(**overrides: Any) -> dict[str, Any]:
    ws: dict[str, Any] = {
        "name": "acme",
        "health": {"state": "ok", "problems": []},
        "cycles": [
            {
                "job": "push",
                "started_at": "2026-01-20T11:57:00Z",
                "seconds": 12.5,
                "pulled": 0,
                "pushed": 1234,
                "failed": 0,
                "http_429": 0,
                "ok": True,
                "error": None,
            },
            {
                "job": "hubspot_contacts",
                "started_at": "2026-01-20T11:50:00Z",
                "seconds": 3.2,
                "pulled": 200,
                "pushed": 0,
                "failed": 0,
                "http_429": 1,
                "ok": True,
                "error": None,
            },
        ],
        "lag": [
            {"stream": "hubspot_contacts", "lag_s": 75.0, "cursor_at": "2026-01-20T11:58:45Z"},
            {"stream": "mailchimp_activity", "lag_s": None, "cursor_at": None},
        ],
        "segments": {"current": {"cold": 520, "warm": 260, "hot": 140, "reengage": 30}, "trend": trend()},
        "tasks": [
            {
                "lead_name": "Ada Lovelace",
                "lead_email": "ada@example.com",
                "owner": "Grace Hopper",
                "trigger": "went hot",
                "reasons": ["opened 5 campaigns", "clicked /pricing", "fit: CTO", "form: demo request"],
                "created_at": "2026-01-20T10:00:00Z",
                "hubspot_url": "https://app.hubspot.com/contacts/123/record/0-1/42",
            }
        ],
        "quarantine": {
            "total": 3,
            "items": [
                {
                    "id": 7,
                    "source": "mailchimp_members",
                    "record": "bad@@example",
                    "reason": "invalid email",
                    "created_at": "2026-01-19T10:00:00Z",
                },
                {
                    "id": 9,
                    "source": "mailchimp_activity",
                    "record": "click:abc",
                    "reason": "event dated in the future",
                    "created_at": "2026-01-20T11:00:00Z",
                },
            ],
        },
        "config_errors": [],
    }
    ws.update(copy.deepcopy(overrides))
    return ws


def view(*workspaces: dict[str, Any]) -> dict[str, Any]:
    return {"generated_at": GENERATED_AT, "workspaces": list(workspaces) or [workspace()]}


def empty_workspace() -> dict[str, Any]:
    return workspace(
        health={"state": "ok", "problems": []},
        cycles=[],
        lag=[],
        segments={"current": {"cold": 0, "warm": 0, "hot": 0, "reengage": 0}, "trend": []},
        tasks=[],
        quarantine={"total": 0, "items": []},
        config_errors=[],
    )


# -- a small DOM, enough to ask what an element holds (html.parser, standard library) ----------------
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag or '*'} class={cls}> in the page"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(text: str) -> Node:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root
