"""Finding relationships to suggest: a column whose values are all keys of another table.

A profile sees one table; an orphan key needs two. Trying every column against every
other table would cost a join each, so candidates are chosen by name and type first: a
column named like a key (``customer_id``, ``product_code``) is tried against tables
that have a column of the same name, and against tables named after it
(``customers``, ``dim_customer``) that have an ``id``; a table's own key (``order_id``
of ``orders``) is not tried. Each candidate pair costs one
query, which also confirms that the other column is a key (no value repeats there).
At most :data:`TRIED_PER_COLUMN` pairs are tried per column, the likeliest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from headgate.checks.metrics import column_kind
from headgate.checks.profile import ColumnProfile, Profile
from headgate.checks.sqlgen import count_if, table_of
from headgate.checks.suggest import RARE, Suggestion
from headgate.engines.base import EngineSession

KEY_SUFFIXES = ("_id", "_key", "_code", "_number", "_no", "_uuid")
TRIED_PER_COLUMN = 2


@dataclass(frozen=True)
class Candidate:
    """A column of the profiled table, and another table's column it may reference."""

    column: str
    table: str  # the other table's name as checks write it (a model or source table)
    key: str
    physical: str  # where it is read


def candidates(
    model: str,
    profile: Profile,
    tables: Mapping[str, tuple[str, Sequence[tuple[str, str]]]],
) -> list[Candidate]:
    """Pairs worth one query each, likeliest first per column.

    ``tables``: every other table that may be referenced, name -> (physical table,
    [(column, type)]). Tables downstream of ``model`` should be left out by the caller.
    """
    found: list[Candidate] = []
    schema = model.rsplit(".", 1)[0] if "." in model else ""
    own = model.rsplit(".", 1)[-1].lower()
    for column in profile.columns:
        stem = _stem(column.name)
        if stem is None or column.kind not in ("integer", "string") or not column.nonnull:
            continue
        if own in _table_names(stem):
            continue  # the table's own key (order_id of orders): it references nothing
        ranked: list[tuple[tuple[int, int], Candidate]] = []
        for name, (physical, columns) in tables.items():
            if name == model:
                continue
            kinds = {c.lower(): (c, column_kind(t)) for c, t in columns}
            short = name.rsplit(".", 1)[-1].lower()
            named = short in _table_names(stem)
            key = None
            if column.name.lower() in kinds:
                key = kinds[column.name.lower()]
            elif named and "id" in kinds:
                key = kinds["id"]
            if key is None or key[1] != column.kind:
                continue
            same_schema = name.rsplit(".", 1)[0] == schema if "." in name else schema == ""
            rank = (0 if named else 1, 0 if same_schema else 1)
            ranked.append((rank, Candidate(column.name, name, key[0], physical)))
        ranked.sort(key=lambda pair: (pair[0], pair[1].table))
        found += [candidate for _, candidate in ranked[:TRIED_PER_COLUMN]]
    return found


def suggest_relationships(
    session: EngineSession, table: str, profile: Profile, pairs: list[Candidate], *, dialect: str
) -> list[Suggestion]:
    """A ``relationships`` check per column whose values are (nearly) all keys of a table.

    Every value found: a passing check. Values missing for at most 1% of the rows: a
    check that would fail now (orphans are defects). More missing: not a relationship.
    """
    found: list[Suggestion] = []
    done: set[str] = set()
    columns = {c.name: c for c in profile.columns}
    for pair in pairs:
        if pair.column in done:
            continue
        repeated, orphans = session.execute(_probe(table, pair, dialect))[0]
        column = columns[pair.column]
        if int(repeated or 0) or int(orphans or 0) > RARE * column.nonnull:
            continue
        done.add(pair.column)
        found.append(_suggestion(column, pair, int(orphans or 0)))
    return found


def _suggestion(column: ColumnProfile, pair: Candidate, orphans: int) -> Suggestion:
    check = {"relationships": {"to": pair.table, "column": pair.key}}
    where = f"{pair.table}.{pair.key}"
    if not orphans:
        reason = f"every {column.name} is a key of {where} ({column.nonnull:,} rows)"
        return Suggestion(column.name, check, reason, False, 0)
    reason = (
        f"would FAIL now: {orphans:,} of {column.nonnull:,} rows have a {column.name} not found "
        f"in {where}, where every other value is: orphans, likely a defect"
    )
    return Suggestion(column.name, check, reason, True, orphans)


def _probe(table: str, pair: Candidate, dialect: str) -> str:
    """One query: how often the key repeats in the other table, and the orphan rows here."""
    key = exp.column(pair.key, quoted=True)
    repeated = (
        exp.select(exp.Count(this=key.copy()) - exp.Count(this=exp.Distinct(expressions=[key])))
        .from_(table_of(pair.physical))
        .subquery()
    )
    keys = exp.select(key.copy().as_("k")).distinct().from_(table_of(pair.physical)).subquery("p")
    value = exp.column(pair.column, table="c", quoted=True)
    orphan = exp.and_(
        exp.not_(exp.Is(this=value.copy(), expression=exp.null())),
        exp.Is(this=exp.column("k", table="p"), expression=exp.null()),
    )
    orphans = (
        exp.select(count_if(orphan))
        .from_(table_of(table).as_("c"))
        .join(keys, on=value.copy().eq(exp.column("k", table="p")), join_type="left")
        .subquery()
    )
    return exp.select(repeated.as_("repeated"), orphans.as_("orphans")).sql(dialect=dialect)


def _stem(name: str) -> str | None:
    lowered = name.lower()
    for suffix in KEY_SUFFIXES:
        if lowered.endswith(suffix) and len(lowered) > len(suffix):
            return lowered[: -len(suffix)]
    return None


def _table_names(stem: str) -> set[str]:
    """What a table holding ``stem`` keys is called: customer(s), dim_customer(s), ..."""
    plural = {stem, f"{stem}s", f"{stem}es"}
    if stem.endswith("y"):
        plural.add(f"{stem[:-1]}ies")
    return plural | {f"{prefix}{p}" for p in plural for prefix in ("dim_", "stg_", "raw_")}
