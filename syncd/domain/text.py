"""Text that leaves syncd for HubSpot or Mailchimp: control characters stripped, HTML escaped, links
limited to http(s). Pure functions."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

# ANSI escape sequences (CSI ... final byte, and OSC ... BEL/ST) first, so "\x1b[31m" goes whole
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# then every other C0 control but tab, newline and carriage return, DEL and the C1 controls
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str) -> str:
    """`value` without ANSI escape sequences and control characters (NUL, BEL, ESC...)."""
    if not _CONTROLS.search(value):
        return value
    return _CONTROLS.sub("", _ANSI.sub("", value))


def escape(value: object) -> str:
    """Cleaned text, HTML-escaped (quotes too), for interpolation into an HTML body."""
    return html.escape(clean_text(str(value)), quote=True)


def safe_link(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL (javascript:, data: and the like are never linked)."""
    if not url:
        return None
    url = clean_text(url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link_html(url: str | None, text: str | None = None) -> str:
    """An <a> element for an http(s) URL, else the escaped text of the URL (not a link)."""
    shown = escape(text if text is not None else (url or ""))
    safe = safe_link(url)
    return f'<a href="{html.escape(safe, quote=True)}">{shown}</a>' if safe else shown
