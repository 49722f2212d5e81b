"""Numbers as a person reads them in a check's message: ``120,150 rows (0.03%)``."""

from __future__ import annotations

from datetime import timedelta


def number(value: int | float) -> str:
    """``120150`` -> ``120,150``; ``0.5`` -> ``0.5``."""
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}"


def rows(count: int) -> str:
    return f"{number(count)} row" if count == 1 else f"{number(count)} rows"


def percent(fraction: float) -> str:
    """A share as a percentage with two decimals; a tiny non-zero share is not shown as 0."""
    if fraction == 0:
        return "0%"
    if fraction < 0.0001:
        return "<0.01%"
    value = f"{fraction * 100:.2f}".rstrip("0").rstrip(".")
    return f"{value}%"


def duration(delta: timedelta) -> str:
    """``timedelta(days=3, hours=4)`` -> ``3 days 4 hours`` (two largest units)."""
    seconds = int(abs(delta.total_seconds()))
    units = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts: list[str] = []
    for unit, size in units:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}" + ("s" if amount != 1 else ""))
        if len(parts) == 2:
            break
    return " ".join(parts) if parts else "0 seconds"


def sentence_list(items: list[str], limit: int = 5) -> str:
    """``a, b, c and 4 more``."""
    shown = items[:limit]
    more = len(items) - len(shown)
    text = ", ".join(shown)
    return f"{text} and {more} more" if more > 0 else text
