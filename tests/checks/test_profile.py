"""Profiling: the numbers a user reads, the patterns and hygiene problems it names, one scan.

Tables are real DuckDB files in the test's folder, built from small hand-computable data;
one test runs the same profile on the loopback PostgreSQL to keep the dialect table honest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from headgate.checks.patterns import PATTERNS
from headgate.checks.profile import Profile, profile_table
from headgate.engines.base import Engine
from headgate.engines.duckdb import DuckDBSession

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class RecordingSession(DuckDBSession):
    """The real DuckDB session, remembering every statement it was asked to run."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        super().__init__(cursor)
        self.statements: list[str] = []

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return super().execute(sql)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[RecordingSession]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("CREATE SCHEMA t")
    yield RecordingSession(connection.cursor())
    connection.close()


PEOPLE = pa.table(
    {
        "id": pa.array(range(1, 11), pa.int64()),
        "age": pa.array([20, 30, 40, None, 50, 60, 30, 30, None, 40], pa.int32()),
        "score": pa.array([1.5, 2.5, 0.0, -1.0, 3.0, 2.0, 1.0, 0.5, 2.5, 1.0], pa.float64()),
        "name": ["Anna", "Ben", "Chloé", "Dmitri", "Eve", "Farid", "Greta", "Hiro", "Ines", "Jo"],
        "joined": pa.array([date(2024, 1, d) for d in range(1, 11)], pa.date32()),
        "active": [True, True, False, True, None, True, False, True, True, True],
    }
)


def test_profile_numbers_match_the_data(warehouse: RecordingSession) -> None:
    warehouse.create_table_from_arrow("t.people", PEOPLE)
    profile = profile_table(warehouse, "t.people", now=NOW)

    assert profile.rows == 10
    age = profile.column("age")
    assert (age.kind, age.nulls, age.null_fraction) == ("integer", 2, 0.2)
    assert (age.distinct, age.distinct_exact, age.min, age.max) == (5, True, 20, 60)
    assert age.mean == 37.5
    assert age.stddev == pytest.approx(math.sqrt(1150 / 7))  # squared deviations sum to 1150
    # continuous quantiles of 20 30 30 30 40 40 50 60
    assert age.quantiles == pytest.approx(
        {"p01": 20.7, "p25": 30.0, "p50": 35.0, "p75": 42.5, "p99": 59.3}
    )
    assert age.top_values[0] == (30, 3)
    assert age.distinct_fraction == 5 / 8

    score = profile.column("score")
    assert (score.negatives, score.zeros, score.min, score.max) == (1, 1, -1.0, 3.0)
    assert score.mean == pytest.approx(1.3)

    name = profile.column("name")
    assert (name.min_length, name.max_length) == (2, 6)  # 'Chloé' is five characters
    assert name.distinct == 10 and name.duplicate_rows == 0

    joined = profile.column("joined")
    assert (joined.kind, joined.min, joined.max) == ("temporal", "2024-01-01", "2024-01-10")
    assert joined.latest_past == "2024-01-10" and joined.future == 0

    active = profile.column("active")
    assert (active.kind, active.nulls, active.distinct) == ("boolean", 1, 2)
    assert active.mean == pytest.approx(7 / 9)
    assert active.top_values == [(True, 7), (False, 2)]


def test_profile_survives_json(warehouse: RecordingSession) -> None:
    warehouse.create_table_from_arrow("t.people", PEOPLE)
    profile = profile_table(warehouse, "t.people", now=NOW)
    stored = json.loads(json.dumps(profile.to_dict()))
    assert Profile.from_dict(stored) == profile


def test_one_aggregate_scan_reads_every_column(warehouse: RecordingSession) -> None:
    warehouse.create_table_from_arrow("t.people", PEOPLE)
    warehouse.statements.clear()
    profile_table(warehouse, "t.people", now=NOW)

    describe, scan, values = warehouse.statements  # metadata, the scan, the grouped values
    assert describe.startswith("DESCRIBE")
    tree = sqlglot.parse_one(scan, read="duckdb")
    assert {c.name for c in tree.find_all(exp.Column)} >= set(PEOPLE.column_names)
    assert "UNION ALL" in values and "GROUP BY" in values


def test_grouped_values_skip_high_cardinality_numbers_on_large_tables(
    warehouse: RecordingSession,
) -> None:
    warehouse.execute(
        "CREATE TABLE t.events AS SELECT i AS id, i * 0.5 AS amount, "
        "['web', 'app'][1 + i % 2] AS channel FROM range(5000) AS r(i)"
    )
    profile = profile_table(warehouse, "t.events", exact_distinct_below=1000, exact_keys_below=1000)
    values = warehouse.statements[-1]
    assert '"channel"' in values and '"amount"' not in values and '"id"' not in values
    amount = profile.column("amount")
    assert not amount.distinct_exact and amount.top_values == []
    assert profile.column("channel").value_counts == [("app", 2500), ("web", 2500)]


def test_key_columns_are_counted_exactly_with_their_duplicates(warehouse: RecordingSession) -> None:
    warehouse.execute(
        "CREATE TABLE t.orders AS SELECT i AS id FROM range(3000) AS r(i) "
        "UNION ALL SELECT i FROM range(7) AS r(i)"
    )
    column = profile_table(warehouse, "t.orders", exact_distinct_below=100).column("id")
    assert (column.distinct, column.distinct_exact, column.duplicate_rows) == (3000, True, 14)
    assert [count for _, count in column.top_values[:7]] == [2] * 7


PATTERNED = {
    "email": ["ana@example.com", "bo.li@mail.co.uk", "x_y+z@host.io", "not an email"],
    "url": ["https://example.com/a?b=1", "http://x.org", "ftp://files.net/f.txt", "https://a.b"],
    "uuid": [
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "123e4567-e89b-12d3-a456-426614174000",
        "00000000-0000-0000-0000-000000000000",
        "9b2c1d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e",
    ],
    "day": ["2024-01-31", "2025-12-01", "2026-02-28T10:00:00Z", "2023-07-04 08:30"],
    "phone": ["+49 30 1234567", "(555) 123-4567", "+14155550123", "030-1234567"],
    "zip": ["10115", "75001", "SW1A 1AA", "94105-1234"],
}


def test_patterns_are_recognized_from_the_share_of_matching_values(
    warehouse: RecordingSession,
) -> None:
    rows = {name: values * 5 for name, values in PATTERNED.items()}
    warehouse.create_table_from_arrow("t.patterned", pa.table(rows))
    profile = profile_table(warehouse, "t.patterned", now=NOW)

    names = {c.name: c.pattern.name if c.pattern else None for c in profile.columns}
    assert names == {
        "email": None,  # 75% match: below the 90% that makes a pattern
        "url": "url",
        "uuid": "uuid",
        "day": "iso_date",
        "phone": "phone",
        "zip": "zip",
    }
    assert profile.column("day").finding("date_as_text") is not None


def test_email_pattern_counts_the_values_that_do_not_match(warehouse: RecordingSession) -> None:
    emails = [f"user{i}@example.com" for i in range(95)] + [" padded@example.com"] * 2
    emails += ["broken.example.com", "also@broken", "n/a"]
    warehouse.create_table_from_arrow("t.contacts", pa.table({"email": emails}))
    pattern = profile_table(warehouse, "t.contacts", now=NOW).column("email").pattern

    assert pattern is not None and pattern.name == "email"
    assert (pattern.matched, pattern.checked, pattern.matched_when_trimmed) == (95, 100, 2)
    assert pattern.examples[:3] == ["also@broken", "broken.example.com", "n/a"]


def test_hygiene_findings_name_the_problem_rows(warehouse: RecordingSession) -> None:
    statuses = ["shipped"] * 6 + ["Shipped", "SHIPPED"] + ["placed"] * 3 + ["N/A", "-", "null"]
    padded = [" alpha", "beta ", *(f"v{i}" for i in range(12))]
    weights = ["1.5 kg", "200 g", "3", "4.25", *(f"{i} kg" for i in range(10))]
    days = ["2024-01-02", "2024/02/03", *(f"2025-03-{i + 1:02d}" for i in range(12))]
    moments = [datetime(2025, 5, i + 1, 12) for i in range(10)]
    moments += [
        datetime(2035, 1, 1),
        datetime(1970, 1, 1),
        datetime(1850, 6, 1),
        datetime(2027, 1, 1),
    ]
    table = pa.table(
        {"status": statuses, "padded": padded, "weight": weights, "day": days, "at": moments}
    )
    warehouse.create_table_from_arrow("t.messy", table)
    profile = profile_table(warehouse, "t.messy", now=NOW)

    def found(column: str) -> dict[str, tuple[int, list[str]]]:
        return {f.kind: (f.count, f.examples) for f in profile.column(column).hygiene}

    assert found("status") == {
        "mixed_case": (2, ["SHIPPED", "Shipped"]),
        "placeholder": (3, ["-", "N/A", "null"]),
    }
    assert found("padded") == {"surrounding_spaces": (2, [" alpha", "beta "])}
    assert found("weight")["number_as_text"][0] == 14
    assert found("day")["date_as_text"][0] == 14
    assert found("at") == {
        "far_future_date": (1, ["2035-01-01 00:00:00"]),
        "far_past_date": (1, ["1850-06-01 00:00:00"]),
        "epoch_date": (1, ["1970-01-01 00:00:00"]),
    }
    at = profile.column("at")
    assert at.future == 2  # 2027 is future but not over a year ahead
    assert at.earliest_plausible == "2025-05-01 12:00:00"
    assert at.latest_past == "2025-05-10 12:00:00"


def test_large_text_columns_are_judged_on_a_sample(warehouse: RecordingSession) -> None:
    warehouse.execute(
        "CREATE TABLE t.users AS SELECT 'user' || i || '@example.com' AS email "
        "FROM range(40000) AS r(i)"
    )
    column = profile_table(warehouse, "t.users", exact_distinct_below=1000).column("email")
    assert column.sampled and column.pattern is not None
    assert column.pattern.name == "email" and column.pattern.estimated
    assert column.pattern.checked == 40000  # sample counts scaled to the column


def test_unusual_types_are_profiled_or_counted(warehouse: RecordingSession) -> None:
    warehouse.execute(
        "CREATE TABLE t.odd AS SELECT TIMESTAMPTZ '2026-11-01 10:00:00+02' + to_seconds(i) AS at, "
        "uuid() AS token, [i, i + 1] AS pair, {'n': i} AS record, INTERVAL 1 DAY AS span, "
        'i AS "Odd Name" FROM range(40) AS r(i)'
    )
    profile = profile_table(warehouse, "t.odd", now=NOW)
    at = profile.column("at")
    # a time with a zone is kept as UTC text, fetched as seconds (no pytz on the way)
    assert (at.kind, at.min, at.max) == ("temporal", "2026-11-01 08:00:00", "2026-11-01 08:00:39")
    token = profile.column("token")
    assert token.pattern is not None and token.pattern.name == "uuid"
    assert {c.name: c.kind for c in profile.columns if c.kind == "other"} == {
        "pair": "other",
        "record": "other",
        "span": "other",
    }
    assert profile.column("pair").nulls == 0 and profile.column("Odd Name").mean == 19.5


SPECIMENS = [
    *(v for values in PATTERNED.values() for v in values),
    *("ana@example", "ana@@example.com", "http://", "2024-13-01", "12-34", "+1", "ABC 123"),
    *("3f2504e0-4f89-11d3-9a0c-0305e82c330", "user@mail.example.org", "2024-02-30 25:00"),
]


def test_patterns_match_the_same_values_in_duckdb_and_python(
    warehouse: RecordingSession,
) -> None:
    warehouse.create_table_from_arrow("t.specimens", pa.table({"value": SPECIMENS}))
    for pattern in PATTERNS:
        rows = warehouse.execute(
            f"SELECT value FROM t.specimens WHERE regexp_matches(value, '{pattern.regex}')"
        )
        assert sorted(r[0] for r in rows) == sorted(v for v in SPECIMENS if pattern.matches(v))


@pytest.mark.services
def test_postgres_profile_agrees_with_duckdb(
    postgres_engine: Engine, pg_prefix: str, warehouse: RecordingSession
) -> None:
    """The same table on the PostgreSQL engine profiles the same."""
    schema = pg_prefix + "profile"
    postgres_engine.ensure_schema(schema)
    postgres = postgres_engine.session()
    warehouse.create_table_from_arrow("t.people", PEOPLE)
    postgres.create_table_from_arrow(f"{schema}.people", warehouse.arrow("SELECT * FROM t.people"))
    theirs = profile_table(postgres, f"{schema}.people", dialect="postgres", now=NOW)
    specimens = ", ".join("(" + repr(v) + ")" for v in SPECIMENS)
    for pattern in PATTERNS:  # the regexes mean the same in PostgreSQL
        rows = postgres.execute(
            f"SELECT v FROM (VALUES {specimens}) AS s(v) WHERE v ~ '{pattern.regex}'"
        )
        assert sorted(r[0] for r in rows) == sorted(v for v in SPECIMENS if pattern.matches(v))
    ours = profile_table(warehouse, "t.people", now=NOW)

    assert theirs.rows == ours.rows
    for mine, other in zip(ours.columns, theirs.columns, strict=True):
        assert (other.name, other.nulls, other.distinct) == (mine.name, mine.nulls, mine.distinct)
        assert other.mean == pytest.approx(mine.mean)
        assert other.stddev == pytest.approx(mine.stddev)
        assert other.quantiles == pytest.approx(mine.quantiles)
        assert (other.min, other.max) == (mine.min, mine.max)
        assert other.top_values == mine.top_values
