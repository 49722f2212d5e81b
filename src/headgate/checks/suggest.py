"""Turn a profile into proposed checks, each with a threshold and a one-line reason.

The suggestions are what a careful engineer would write after reading the profile:
structural rules the data keeps (``not_null``, ``unique``, a range, a pattern, a length
with headroom) with the default severity ``error``. Volume, freshness and monitors are
``error`` too, with thresholds set so clean batches do not trip them: a volume check
judges drops only, freshness allows twice the lag seen at earlier builds, and a monitor
blocks only on a point beyond 3 sigma (Western Electric rule 1) of limits from the
mean and standard deviation of its history. On a table that only
grows (its row count never fell over the recorded builds) monitors judge the rows each
build added, not the totals, which drift by construction. A rule the
data *almost* keeps is the interesting case: 80 nulls in 120,150 rows, 150 duplicated ids,
a status spelled 'SHIPPED' now and then. Such a rule is still proposed, marked
``would_fail`` with the rows it would fail, because rare exceptions to an otherwise
perfect rule are usually defects to fix upstream, not design.

Suggestions are pure data (no engine, no store): the build history they use is passed
in (:class:`BuildHistory`); :func:`suggestions_yaml` writes them in the shape of a
model's options for the user to review and keep. Relationships need other tables:
:mod:`headgate.checks.keys` finds them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any

import yaml

from headgate.checks.patterns import WeightedValue, case_variants, is_placeholder
from headgate.checks.profile import ColumnProfile, Profile

RARE = 0.01  # exceptions to a rule in at most this share of rows look like defects
ACCEPTED_VALUES_MAX = 30  # more distinct values than this is not a list of categories
LENGTH_HEADROOM = 1.5  # a suggested max length is the longest value seen times this
MIN_DROP = 0.2  # a row_count drop check allows at least this drop...
MAX_DROP = 0.5  # ...and at most this one (and this without history)
APPEND_ONLY_DROP = 0.1  # what a table that only grew may lose before it is a defect
FRESH_HISTORY = 3  # earlier builds' lags needed before freshness is an error check
MONITOR_RULES = [1]  # a blocking monitor fires on a point beyond 3 sigma, not on drifts
# Limits from the mean and standard deviation: a refused build never enters the history, so
# robustness to outliers matters less than seeing the whole spread (weekends, say).
BLOCKING = {"method": "mean", "rules": MONITOR_RULES}
RECENT = 7 * 86_400  # a time column whose newest value is older was not loaded lately
UNIQUE_APPROXIMATE = 0.97  # approximate distinct share from which an id is taken as a key
MEAN_SHIFT = 0.5  # baseline standard deviations a mean must move to be called a shift
DISTINCT_SHIFT = 0.2  # relative change of the distinct share called a shift
DURATIONS = (
    (3_600, "1 hour"), (6 * 3_600, "6 hours"), (12 * 3_600, "12 hours"), (86_400, "1 day"),
    (2 * 86_400, "2 days"), (3 * 86_400, "3 days"), (7 * 86_400, "7 days"),
    (14 * 86_400, "14 days"), (30 * 86_400, "30 days"),
)  # fmt: skip
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class Suggestion:
    """One proposed check: on a column (or the model), as the user would write it, and why."""

    column: str | None
    check: str | dict[str, Any]
    reason: str
    would_fail: bool = False
    violations: int | None = None  # rows the check would fail now, when known exactly

    @property
    def type(self) -> str:
        return self.check if isinstance(self.check, str) else next(iter(self.check))


@dataclass
class BuildHistory:
    """What earlier builds recorded: row counts, and each time column's lag, oldest first."""

    row_counts: list[float] = field(default_factory=list)
    lags: dict[str, list[float]] = field(default_factory=dict)  # seconds, by column

    @property
    def append_only(self) -> bool:
        """Whether the table only grew over at least three recorded builds."""
        counts = self.row_counts
        return (
            len(counts) >= 3 and counts[-1] > counts[0] and all(b >= a for a, b in pairwise(counts))
        )


Rule = Callable[[ColumnProfile, Profile, list[Suggestion]], "Suggestion | None"]


def suggest_checks(
    profile: Profile,
    *,
    model: str,
    baseline: Profile | None = None,
    history: BuildHistory | None = None,
) -> list[Suggestion]:
    """Checks for ``model`` from its latest ``profile``; a ``baseline`` adds comparisons.

    Column checks come first (in column order), then the model's volume checks, then the
    monitors; with a baseline, the volume check says whether the drop since would fail it
    and a monitor's reason says when its metric shifted since. ``history`` (earlier
    builds' row counts and lags) sets the volume and freshness thresholds.
    """
    history = history or BuildHistory()
    found: list[Suggestion] = []
    monitors: list[Suggestion] = []
    for column in profile.columns:
        for rule in RULES:
            suggestion = rule(column, profile, found)
            if suggestion is not None:
                found.append(suggestion)
        fresh = _freshness(column, profile, history.lags.get(column.name, []))
        found += [fresh] if fresh is not None else []
        before = None if baseline is None else _column_named(baseline, column.name)
        monitors += _monitors(column, before, grows=history.append_only)
    return found + _volume(profile, model, baseline, history) + monitors


def _share(part: int, whole: int) -> str:
    share = 100 * part / whole if whole else 0.0
    return f"{share:.2g}%" if share < 1 else f"{share:.1f}%"


def _passing(column: ColumnProfile, check: str | dict[str, Any], reason: str) -> Suggestion:
    return Suggestion(column.name, check, reason, False, 0)


def _failing(
    column: ColumnProfile, check: str | dict[str, Any], rows: int, what: str, exact: bool = True
) -> Suggestion:
    return Suggestion(column.name, check, f"would FAIL now: {what}", True, rows if exact else None)


def _done(found: list[Suggestion], column: ColumnProfile, *types: str) -> bool:
    """Whether a check of one of ``types`` was already proposed for the column."""
    return any(s.column == column.name and s.type in types for s in found)


def _identifier(column: ColumnProfile) -> bool:
    name = column.name.lower()
    return name == "id" or name.endswith(("_id", "_key", "_uuid", "_number"))


def _not_null(column: ColumnProfile, profile: Profile, _: list[Suggestion]) -> Suggestion | None:
    rows, nulls = profile.rows, column.nulls
    if rows and nulls == 0:
        return _passing(column, "not_null", f"0 nulls in {rows:,} rows")
    if rows and column.nonnull and nulls <= RARE * rows:
        what = (
            f"{nulls:,} nulls in {rows:,} rows ({_share(nulls, rows)}), rare enough to be a defect"
        )
        return _failing(column, "not_null", nulls, what)
    return None


def _unique(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    n, distinct = column.nonnull, column.distinct
    if column.kind not in ("integer", "string") or n < 2 or distinct is None:
        return None
    if not column.distinct_exact:  # an estimate cannot see a few duplicates: ids only
        if distinct >= UNIQUE_APPROXIMATE * n and _identifier(column):
            reason = f"about {distinct:,} distinct values in {n:,} rows (approximate; the check counts exactly)"
            return Suggestion(column.name, "unique", reason)
        return None
    extra = n - distinct
    if extra == 0:
        return _passing(column, "unique", f"{distinct:,} distinct values in {n:,} rows")
    if extra > RARE * n:
        return None
    examples = ", ".join(f"{v} ×{c}" for v, c in column.top_values[:3] if c > 1)
    what = (f"{extra:,} duplicated values ({column.duplicate_rows or 0:,} rows share a value, "
            f"e.g. {examples}): likely a defect to fix upstream")  # fmt: skip
    return _failing(column, "unique", column.duplicate_rows or 0, what)


def _accepted_values(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    counts = column.value_counts
    if column.kind != "string" or counts is None or not 1 < len(counts) <= ACCEPTED_VALUES_MAX:
        return None
    if column.nonnull < 5 * len(counts):  # too few rows to tell a category from a typo
        return None
    values = [WeightedValue(str(v), c) for v, c in counts]
    kinds = {m.value: "other casings" for _, minor in case_variants(values) for m in minor}
    for v in values:
        if is_placeholder(v.value):
            kinds[v.value] = "placeholders"
        elif v.value != v.value.strip(" "):
            kinds[v.value] = "values padded with spaces"
    core = sorted(v.value for v in values if v.value not in kinds)
    if not core:
        return None
    check = {"accepted_values": {"values": core}}
    bad = sum(v.count for v in values if v.value in kinds)
    if not bad:
        return _passing(column, check, f"{len(core)} values cover every row")
    odd = sorted((v for v in values if v.value in kinds), key=lambda v: (-v.count, v.value))
    shown = ", ".join(repr(v.value) for v in odd[:4]) + (
        f" and {len(odd) - 4} more" if len(odd) > 4 else ""
    )
    what = (f"{bad:,} rows hold {shown} ({' and '.join(sorted(set(kinds.values())))} look like "
            f"defects); {len(core)} values cover {_share(column.nonnull - bad, column.nonnull)} of rows")  # fmt: skip
    return _failing(column, check, bad, what)


def _range(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    if column.kind not in ("integer", "decimal") or not column.nonnull or _identifier(column):
        return None
    n, negatives, zeros = column.nonnull, column.negatives or 0, column.zeros or 0
    p01 = column.quantiles.get("p01")
    positive = {"min": 1} if column.kind == "integer" else {"min": 0, "inclusive": False}
    if column.kind == "decimal" and not negatives and column.max is not None and column.max <= 1:
        reason = f"values from {column.min:g} to {column.max:g} look like a fraction"
        return _passing(column, {"range": {"min": 0, "max": 1}}, reason)
    if negatives + zeros == 0:
        return _passing(
            column, {"range": positive}, f"every value is positive (min {column.min:,})"
        )
    if negatives and negatives + zeros <= RARE * n and p01 is not None and p01 > 0:
        # zeros alone are often real (a free item); negatives among them mark keying errors
        what = (f"{negatives + zeros:,} values are zero or negative ({_share(negatives + zeros, n)}, "
                f"min {column.min:,}) while 99% are at least {p01:g}: likely a defect")  # fmt: skip
        return _failing(column, {"range": positive}, negatives + zeros, what)
    if negatives == 0:
        return _passing(column, {"range": {"min": 0}}, f"no negative values in {n:,} rows")
    if negatives <= RARE * n and p01 is not None and p01 >= 0:
        what = f"{negatives:,} negative values ({_share(negatives, n)}, min {column.min:,}): likely a defect"
        return _failing(column, {"range": {"min": 0}}, negatives, what)
    return None


def _date_range(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    """A lower bound at the start of the earliest plausible year: zero timestamps fail it."""
    if column.kind != "temporal" or column.earliest_plausible is None:
        return None
    bound = date(datetime.fromisoformat(column.earliest_plausible).year, 1, 1)
    zeros = (column.epoch_zero or 0) if bound > date(1970, 1, 1) else 0
    failing, check = (column.ancient or 0) + zeros, {"range": {"min": bound}}
    if not failing:
        return _passing(column, check, f"earliest value {column.min}")
    what = (f"{failing:,} values before {bound} ({column.min}, a zero or placeholder date); "
            f"the rest start {column.earliest_plausible}")  # fmt: skip
    return _failing(column, check, failing, what)


def _regex(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    match = column.pattern
    if match is None:
        return None
    check = {"regex": {"pattern": match.regex}}
    misses, padded = match.checked - match.matched, match.matched_when_trimmed
    if not misses:
        return _passing(column, check, f"every value looks like {match.label}")
    parts = [f"{misses - padded:,} malformed"] if misses > padded else []
    parts += [f"{padded:,} only because of surrounding spaces"] if padded else []
    examples = ", ".join(repr(e) for e in match.examples)
    what = (f"{'about ' if match.estimated else ''}{misses:,} values are not {match.label} "
            f"({_share(misses, match.checked)}: {' and '.join(parts)}), e.g. {examples}")  # fmt: skip
    return _failing(column, check, misses, what, exact=not match.estimated)


def _length(column: ColumnProfile, _: Profile, found: list[Suggestion]) -> Suggestion | None:
    size, longest = column.min_length, column.max_length
    if column.kind != "string" or size is None or longest is None or not column.nonnull:
        return None
    if _done(found, column, "accepted_values"):
        return None  # a list of values bounds the length already
    if size == longest:
        if (column.distinct or 0) < 2 or _done(found, column, "regex"):
            return None
        reason = f"every value is {size} characters long"
        return _passing(column, {"length": {"min": size, "max": size}}, reason)
    bound = math.ceil(longest * LENGTH_HEADROOM)
    bound = -(-bound // 10) * 10 if bound >= 20 else bound
    limits = {"min": 1, "max": bound} if size >= 1 else {"max": bound}
    empty = "; no empty values" if size >= 1 else ""
    reason = f"the longest value has {longest:,} characters: {bound:,} leaves headroom{empty}"
    return _passing(column, {"length": limits}, reason)


def _sql_name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _spaces(column: ColumnProfile, _: Profile, found: list[Suggestion]) -> Suggestion | None:
    finding = column.finding("surrounding_spaces")
    if finding is None or _done(found, column, "accepted_values", "regex"):
        return None  # those checks already fail the padded values
    name = _sql_name(column.name)
    what = f"{finding.message}, e.g. " + ", ".join(repr(e) for e in finding.examples)
    check = {"expression": {"sql": f"{name} = trim({name})"}}
    return _failing(column, check, finding.count, what, exact=not finding.estimated)


def _not_future(column: ColumnProfile, _: Profile, __: list[Suggestion]) -> Suggestion | None:
    future = column.future or 0
    if column.kind != "temporal" or column.latest_past is None or future > RARE * column.nonnull:
        return None  # a column mostly in the future holds plans or expiry dates
    now = "current_date" if column.type.upper() == "DATE" else "current_timestamp"
    check = {"expression": {"sql": f"{_sql_name(column.name)} <= {now}"}}
    if not future:
        return _passing(column, check, f"no value is in the future (newest {column.max})")
    return _failing(
        column,
        check,
        future,
        f"{future:,} values are in the future (up to {column.max}): likely a defect",
    )


def _freshness(column: ColumnProfile, profile: Profile, lags: list[float]) -> Suggestion | None:
    """Freshness from the newest value's lag now and at earlier builds.

    Twice the largest lag seen (at least twice the spacing of rows, at least an hour) so a
    late but normal batch passes; an error check once a few builds show how late data
    usually is, a warning before.
    """
    if column.kind != "temporal" or column.latest_past is None or column.nonnull < 2:
        return None
    lag = (profile.taken_at - datetime.fromisoformat(column.latest_past)).total_seconds()
    p01, p99 = column.quantiles.get("p01"), column.quantiles.get("p99")
    if lag > RECENT or p01 is None or p99 is None:
        return None
    span = (datetime.fromisoformat(p99) - datetime.fromisoformat(p01)).total_seconds()
    spacing = span / (0.98 * column.nonnull)  # between p01 and p99 lie 98% of the rows
    seen = [value for value in lags if value >= 0]
    if seen and max(seen) > RECENT:
        return None  # some build saw it old: not a column that is kept fresh
    needed = max(2 * max([lag, *seen]), 2 * spacing, 3_600)
    label = next((name for seconds, name in DURATIONS if seconds >= needed), DURATIONS[-1][1])
    reason = f"newest value {_duration(lag)} old ({column.latest_past}); rows arrive about every {_duration(spacing)}"
    check: dict[str, Any] = {"freshness": {"max_age": label}}
    if len(seen) >= FRESH_HISTORY:
        reason += f"; at most {_duration(max(seen))} old at each of {len(seen)} earlier builds"
    else:
        check["severity"] = "warn"
        reason += "; a warning until a few builds show how late its data usually is"
    return Suggestion(column.name, check, reason)


RULES: tuple[Rule, ...] = (_not_null, _unique, _accepted_values, _range, _date_range, _regex,
                           _length, _spaces, _not_future)  # fmt: skip


def _duration(seconds: float) -> str:
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            amount = seconds / size
            return f"{amount:.1f} {unit}s" if amount < 10 else f"{amount:.0f} {unit}s"
    return f"{seconds:.0f} seconds"


def _volume(
    profile: Profile, model: str, baseline: Profile | None, history: BuildHistory
) -> list[Suggestion]:
    """A drop check on the row count, and a monitor of it (of the rows added, if it grows)."""
    counts = history.row_counts
    drops = [(a - b) / a for a, b in pairwise(counts) if a > 0 and b < a]
    if history.append_only:
        limit = APPEND_ONLY_DROP
        reason = f"the table only grew over {len(counts)} builds: losing rows is a defect"
    elif len(counts) >= 3:
        limit = min(MAX_DROP, max(MIN_DROP, math.ceil(40 * max(drops, default=0)) / 20))
        largest = f"{max(drops, default=0):.1%}"
        reason = f"the row count fell at most {largest} between {len(counts)} builds; twice that, at least {MIN_DROP:.0%}"
    else:
        limit = MAX_DROP
        reason = "losing over half the rows of the previous build is a defect"
    allowed = f"{limit * 100:g}%"
    outside = False
    if baseline is not None and baseline.rows:
        change = (profile.rows - baseline.rows) / baseline.rows
        outside = -change > limit
        reason = (
            ("would FAIL now: " if outside else "")
            + reason
            + f"; {model} has {profile.rows:,} now ({change:+.1%} from {baseline.rows:,})"
        )
    drop = {"row_count": {"max_change": allowed, "direction": "drop"}}
    suggestions = [Suggestion(None, drop, reason, outside)]
    watched: dict[str, Any] = {"metric": "row_count", "direction": "drop", **BLOCKING}
    if history.append_only:
        watched = {"metric": "row_count", "rows": "added", **watched}
        added = [b - a for a, b in pairwise(counts)]
        why = (f"rows added per build (median {_median(added):,.0f}): a batch far below that is "
               "a partial load, which barely moves the total")  # fmt: skip
    else:
        why = "a row count far below its last 20 builds (beyond 3 sigma) is a partial load"
    suggestions.append(Suggestion(None, {"monitor": watched}, why))
    return suggestions


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _column_named(profile: Profile, name: str) -> ColumnProfile | None:
    return next((c for c in profile.columns if c.name == name), None)


def _monitors(
    column: ColumnProfile, before: ColumnProfile | None, *, grows: bool
) -> list[Suggestion]:
    """``monitor`` checks for a column's drifting metrics, saying what shifted since the baseline.

    Null fraction and mean block publishing on a point beyond 3 sigma; on a table that
    only grows they judge the rows each build added. The distinct share, which drifts on
    a growing table by construction, is watched (as a warning) on other tables only.
    """
    found = []
    added = {"rows": "added"} if grows else {}

    def monitor(metric: str, reason: str, shifted_from: str | None, **options: Any) -> None:
        check = {"monitor": {"metric": metric, **options}}
        prefix = f"SHIFTED since the baseline, from {shifted_from}; " if shifted_from else ""
        if grows and "rows" in options:
            reason += " (of the rows each build adds)"
        found.append(Suggestion(column.name, check, prefix + reason))

    nulls, old = column.null_fraction, before.null_fraction if before else None
    if nulls is not None and nulls > RARE:  # rarer nulls: not_null covers them
        shifted = old is not None and abs(nulls - old) >= max(RARE, 0.5 * old)
        monitor("null_fraction", f"{column.name} is {nulls:.1%} null",
                f"{old:.1%}" if shifted else None,
                **added, direction="growth", **BLOCKING)  # fmt: skip
    share, old = column.distinct_fraction, before.distinct_fraction if before else None
    few = column.value_counts is not None and len(column.value_counts) <= ACCEPTED_VALUES_MAX
    if (
        not grows
        and column.kind in ("integer", "string")
        and share is not None
        and share < UNIQUE_APPROXIMATE
        and not few
    ):
        shifted = old is not None and old > 0 and abs(share - old) > DISTINCT_SHIFT * old
        monitor("distinct_fraction", f"{share:.1%} of {column.name} values are distinct",
                f"{old:.1%}" if shifted else None)  # fmt: skip
        found[-1].check["severity"] = "warn"  # type: ignore[index]
    mean = column.mean
    if (
        mean is not None
        and column.kind in ("integer", "decimal", "boolean")
        and not _identifier(column)
    ):
        moved = None
        if before is not None and before.mean is not None and before.stddev:
            moved = (mean - before.mean) / before.stddev
        shifted = before is not None and moved is not None and abs(moved) > MEAN_SHIFT
        spread = f", sd {column.stddev:,.4g}" if column.stddev else ""
        monitor("mean", f"mean {mean:,.4g}{spread}",
                f"{before.mean:,.4g} ({moved:+.1f} sd)" if shifted and before else None,
                **added, **BLOCKING)  # fmt: skip
    return found


def suggestions_yaml(
    model: str, suggestions: list[Suggestion], *, profile: Profile | None = None
) -> str:
    """The suggestions as a model's options YAML, each reason a comment above its check.

    With the ``profile``, the header gives its size and date and each column lists its
    hygiene findings as comments, including those no check expresses (numbers as text).
    """
    taken = f" (profile of {profile.rows:,} rows, {profile.profiled_at[:10]})" if profile else ""
    lines = [f"# Suggested checks for {model}{taken}. Review, then keep what is true."]
    order = [c.name for c in profile.columns] if profile else []
    notes = {c.name: c.hygiene for c in profile.columns} if profile else {}
    by_column: dict[str, list[Suggestion]] = {}
    for suggestion in suggestions:
        if suggestion.column is not None:
            by_column.setdefault(suggestion.column, []).append(suggestion)
            order += [] if suggestion.column in order else [suggestion.column]
    named = [name for name in order if by_column.get(name) or notes.get(name)]
    lines += ["columns:"] if named else []
    for name in named:
        lines.append(f"  {_flow(name)}:")
        for finding in notes.get(name, []):
            examples = ", ".join(repr(e) for e in finding.examples)
            lines.append(
                f"    # profile: {finding.message}" + (f", e.g. {examples}" if examples else "")
            )
        checks = by_column.get(name, [])
        lines.append("    checks:" if checks else "    checks: []")
        lines += [line for s in checks for line in _check_lines(s, "      ")]
    model_checks = [s for s in suggestions if s.column is None]
    lines += ["checks:"] if model_checks else []
    lines += [line for s in model_checks for line in _check_lines(s, "  ")]
    return "\n".join(lines) + "\n"


def _check_lines(suggestion: Suggestion, indent: str) -> list[str]:
    lines = [f"{indent}# {suggestion.reason}"]
    if isinstance(suggestion.check, str):
        return [*lines, f"{indent}- {suggestion.check}"]
    for i, (key, value) in enumerate(suggestion.check.items()):
        lines.append(f"{indent}{'- ' if i == 0 else '  '}{key}: {_flow(value)}")
    return lines


def _flow(value: Any) -> str:
    """One value as YAML in flow style, quoted where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=math.inf, allow_unicode=True
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()
