"""Value patterns and hygiene findings the profiler recognizes in text columns.

The regular expressions are written in the subset that Python's ``re``, RE2 (DuckDB) and
PostgreSQL's ``~`` read the same way: explicit ``^...$`` anchors, bracket classes
instead of ``\\d``/``\\s``, no lookarounds, no lazy quantifiers. A pattern proposed as a
``regex`` check therefore fails the same rows in the warehouse as it counted here.

Patterns are matched in Python against a column's distinct values weighted by their row
counts (which the profiler fetches anyway for the most frequent values): one regex test
per distinct value instead of one per row, and the same semantics on every engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# Share of non-null values that must match before a column is said to hold a pattern.
PATTERN_THRESHOLD = 0.9
EXAMPLES = 3


@dataclass(frozen=True)
class NamedPattern:
    """A recognizable kind of value (``email``) and the expression that recognizes it."""

    name: str
    regex: str
    label: str = ""  # how a sentence names one such value: "an email address"

    def matches(self, value: str) -> bool:
        return _compiled(self.regex).match(value) is not None


# On equal match shares the earlier, more specific pattern wins.
PATTERNS: tuple[NamedPattern, ...] = (
    NamedPattern(
        "uuid",
        r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "a UUID",
    ),
    NamedPattern(
        "email",
        r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$",
        "an email address",
    ),
    NamedPattern("url", r"^(https?|ftp)://[A-Za-z0-9.-]+(:[0-9]+)?(/[^ ]*)?$", "a URL"),
    NamedPattern(
        "iso_date",
        r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
        r"([T ][0-2][0-9]:[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-][0-2][0-9]:?[0-5][0-9])?)?$",
        "an ISO date",
    ),
    NamedPattern(
        "zip",
        r"^([0-9]{4,5}|[0-9]{5}-[0-9]{4}|[0-9]{4} ?[A-Z]{2}|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}"
        r"|[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9])$",
        "a postal code",
    ),
    NamedPattern(
        "phone",
        r"^(\+[0-9]{7,15}|\+?[0-9]{0,3}[ .-]?(\([0-9]{1,4}\)[ .-]?)?[0-9]{2,5}([ .-][0-9]{2,8}){1,4})$",
        "a phone number",
    ),
)

# What people type when they do not know the value; compared trimmed and ignoring case.
# 'NA' is left out on purpose: it is Namibia's country code.
PLACEHOLDERS = frozenset(
    {"", "-", "--", "?", "??", "n/a", "#n/a", "null", "none", "nil", "nan", "undefined", "tbd"}
)
# A number written as text, optionally with a short unit: '2.54 kg', '850 g', '15%'.
NUMBER_AS_TEXT = NamedPattern(
    "number", r"^[+-]?([0-9]+([.,][0-9]+)?|[.,][0-9]+)([eE][+-]?[0-9]+)? ?([A-Za-z%]{1,3})?$"
)
# A date written as text, year first or year last.
DATE_AS_TEXT = NamedPattern(
    "date",
    r"^([0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{4})([T ].*)?$",
)
# Digits with a leading zero are codes ('007', '01234'), not quantities.
LEADING_ZERO = re.compile(r"^0[0-9]")
# Share of values that must read as numbers (dates) before the column is "numbers as text".
AS_TEXT_THRESHOLD = 0.9
# Long free text legitimately repeats in other casings; short labels should not.
MIXED_CASE_MAX_LENGTH = 40


@dataclass(frozen=True)
class WeightedValue:
    """One distinct text value and how many rows hold it."""

    value: str
    count: int


@dataclass
class PatternMatch:
    """The pattern most values of a column follow, and the values that do not."""

    name: str
    regex: str
    matched: int
    checked: int
    match_fraction: float
    matched_when_trimmed: int  # rows that match only once surrounding spaces are removed
    examples: list[str] = field(default_factory=list)  # values that do not match
    estimated: bool = False  # counted on a sample and scaled to the column
    label: str = ""  # "an email address"


@dataclass
class Finding:
    """A hygiene problem: what kind, how many rows, what it looks like."""

    kind: str
    count: int
    examples: list[str]
    message: str
    estimated: bool = False


def analyze_text(
    values: Sequence[WeightedValue], *, scale: float = 1.0
) -> tuple[PatternMatch | None, list[Finding]]:
    """The recognized pattern and the hygiene findings of one text column's values.

    ``values`` are distinct values with row counts, the whole column or a sample; with a
    sample, ``scale`` (column rows per sampled row) turns counts into estimates.
    """
    estimated = scale != 1.0
    checked = sum(v.count for v in values)
    if checked == 0:
        return None, []

    def rows(n: int) -> int:
        return round(n * scale)

    pattern = _best_pattern(values, checked)
    match = None
    if pattern is not None:
        misses = [v for v in values if not pattern.matches(v.value)]
        padded = [v for v in misses if pattern.matches(v.value.strip(" "))]
        malformed = [v for v in misses if v not in padded]
        matched = checked - sum(v.count for v in misses)
        match = PatternMatch(
            name=pattern.name,
            regex=pattern.regex,
            label=pattern.label,
            matched=rows(matched),
            checked=rows(checked),
            match_fraction=matched / checked,
            matched_when_trimmed=rows(sum(v.count for v in padded)),
            # the values that are wrong beyond their spaces tell more: they come first
            examples=(_examples(malformed) + _examples(padded))[:EXAMPLES],
            estimated=estimated,
        )

    findings: list[Finding] = []

    def add(kind: str, hits: Sequence[WeightedValue], what: str) -> None:
        count = rows(sum(v.count for v in hits))
        if count:
            about = "about " if estimated else ""
            message = f"{about}{count:,} values {what}"
            findings.append(Finding(kind, count, _examples(hits), message, estimated))

    add("surrounding_spaces", [v for v in values if v.value != v.value.strip(" ")],
        "start or end with spaces")  # fmt: skip
    minor = [m for _, spellings in case_variants(values) for m in spellings]
    add("mixed_case", minor, "repeat another value in a different casing")
    add("placeholder", [v for v in values if is_placeholder(v.value)],
        "are placeholders for a missing value")  # fmt: skip
    unrecognized = match is None or match.name not in ("zip", "phone")
    for kind, test, what in (
        ("number_as_text", looks_like_number, "are numbers stored as text"),
        ("date_as_text", looks_like_date, "are dates stored as text"),
    ):
        hits = [v for v in values if test(v.value)]
        if unrecognized and sum(v.count for v in hits) >= AS_TEXT_THRESHOLD * checked:
            add(kind, hits, what)
    return match, findings


def is_placeholder(value: str) -> bool:
    return value.strip(" ").lower() in PLACEHOLDERS


def looks_like_number(value: str) -> bool:
    stripped = value.strip(" ")
    return NUMBER_AS_TEXT.matches(stripped) and not LEADING_ZERO.match(stripped)


def looks_like_date(value: str) -> bool:
    return DATE_AS_TEXT.matches(value.strip(" "))


def case_variants(
    values: Sequence[WeightedValue],
) -> list[tuple[WeightedValue, list[WeightedValue]]]:
    """Values spelled in more than one casing: each dominant spelling with its minor ones.

    ``'shipped'`` (1,960 rows) with ``'Shipped'`` (3) and ``'SHIPPED'`` (1): the spelling
    most rows use is taken as the intended one. Spellings that differ only by surrounding
    spaces are left to the spaces finding.
    """
    groups: dict[str, list[WeightedValue]] = {}
    for item in values:
        key = item.value.strip(" ").casefold()
        if len(key) <= MIXED_CASE_MAX_LENGTH and any(c.isalpha() for c in key):
            groups.setdefault(key, []).append(item)
    result = []
    for members in groups.values():
        ranked = sorted(members, key=lambda m: (-m.count, m.value))
        dominant = ranked[0]
        minor = [m for m in ranked[1:] if m.value.strip(" ") != dominant.value.strip(" ")]
        if minor:
            result.append((dominant, minor))
    return sorted(result, key=lambda pair: pair[0].value)


def _best_pattern(values: Sequence[WeightedValue], checked: int) -> NamedPattern | None:
    best: tuple[float, NamedPattern] | None = None
    for pattern in PATTERNS:
        share = sum(v.count for v in values if pattern.matches(v.value)) / checked
        if share >= PATTERN_THRESHOLD and (best is None or share > best[0]):
            best = (share, pattern)
    return best[1] if best else None


def _examples(hits: Sequence[WeightedValue]) -> list[str]:
    """The most frequent offending values, ties in value order (deterministic)."""
    ranked = sorted(hits, key=lambda v: (-v.count, v.value))
    return [v.value for v in ranked[:EXAMPLES]]


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(regex: str) -> re.Pattern[str]:
    compiled = _CACHE.get(regex)
    if compiled is None:
        compiled = _CACHE[regex] = re.compile(regex)
    return compiled
