"""Regular expressions from admin-edited files, compiled with RE2: matching time is linear in the input,
so no pattern ((a+)+$ and the like) can stall scoring on a hostile URL or property value."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2


class PatternError(ValueError):
    """The pattern is not a regular expression RE2 accepts (RE2 has no backreferences or lookaround)."""


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (`.search(text)` returns a match or None). Raises PatternError."""
    options = re2.Options()
    options.log_errors = False  # the error is raised to the caller; RE2 must not also print it
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(reason) from None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`."""
    return compile_pattern(pattern).search(text) is not None
