"""Goal periods (`2026`, `2026-Q4`, `2026-12`, `2026-W49`): pure validation and canonical form."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_PERIOD_RE = re.compile(r"(?P<year>[0-9]{4})(?:-Q(?P<q>[1-4])|-(?P<m>[0-9]{1,2})|-W(?P<w>[0-9]{1,2}))?")


def canonical_period(text: str) -> str:
    """Return the canonical form of a goal period (e.g. `2026-03`); raise ValueError if it is not one."""
    norm = "".join(unicodedata.normalize("NFKC", text).upper().split())
    match = _PERIOD_RE.fullmatch(norm)
    if match is None:
        raise ValueError(f"not a period: {text!r}")
    year = int(match["year"])
    if not 1900 <= year <= 2999:
        raise ValueError(f"year out of range: {text!r}")
    if match["q"]:
        return f"{year}-Q{match['q']}"
    if match["m"]:
        month = int(match["m"])
        if not 1 <= month <= 12:
            raise ValueError(f"no such month: {text!r}")
        return f"{year}-{month:02d}"
    if match["w"]:
        week = int(match["w"])
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"no such week: {text!r}") from None
        return f"{year}-W{week:02d}"
    return str(year)
