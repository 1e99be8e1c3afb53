"""Email normalization and the subscriber hash: the join key between the CRM and the audience."""

from __future__ import annotations

import hashlib
import re

# Deliberately simple: one @, a dot in the domain, no spaces. The services validate further.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalize_email(value: object) -> str | None:
    """Trimmed, lower-cased email, or None when `value` is not a plausible address."""
    if not isinstance(value, str):
        return None
    e = value.strip().lower()
    return e if _EMAIL.match(e) else None


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: md5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()
