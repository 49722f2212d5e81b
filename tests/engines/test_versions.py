"""Versions over immutable segments (``plan/versions.py``) read the same on every engine."""

from __future__ import annotations

from headgate.engines.base import Engine, literal_time, quote
from headgate.plan.versions import Segment, Version, version_sql, with_new_segments

DAY1 = ("2024-01-01T00:00:00", "2024-01-02T00:00:00")
DAY2 = ("2024-01-02T00:00:00", "2024-01-03T00:00:00")


def segment(engine: Engine, table: str, select: str, **kwargs: object) -> Segment:
    session = engine.session()
    rows = session.create_table_as(table, select)
    return Segment(table, rows=rows, columns=session.columns_of(table), **kwargs)  # type: ignore[arg-type]


def read(engine: Engine, view: str, version: Version, order: str) -> list[tuple[object, ...]]:
    session = engine.session()
    sql = version_sql(version, engine.capabilities.identifier_quote, literal_time=literal_time)
    session.create_view_as(view, sql)
    return session.execute(f"SELECT * FROM {quote(view)} ORDER BY {order}")


def test_a_restated_range_is_hidden_in_the_older_segment_and_never_doubled(
    engine: Engine, schema: str
) -> None:
    old = segment(
        engine,
        f"{schema}.events__s1",
        "SELECT 1 AS id, TIMESTAMP '2024-01-01 10:00:00' AS ts, 'old' AS v "
        "UNION ALL SELECT 2, TIMESTAMP '2024-01-02 10:00:00', 'old'",
        ranges=[DAY1, DAY2],
    )
    new = segment(
        engine,
        f"{schema}.events__s2",
        "SELECT 2 AS id, TIMESTAMP '2024-01-02 10:00:00' AS ts, 'new' AS v "
        "UNION ALL SELECT 3, TIMESTAMP '2024-01-02 11:00:00', 'new'",
        ranges=[DAY2],
    )
    segments = with_new_segments("ranges", [old], [new])
    assert segments[0].masks == [DAY2]
    version = Version("ranges", segments, time_column="ts")
    found = read(engine, f"{schema}.events__v1", version, "id")
    assert [(r[0], r[2]) for r in found] == [(1, "old"), (2, "new"), (3, "new")]


def test_keys_in_a_newer_layer_hide_the_same_keys_in_older_ones(
    engine: Engine, schema: str
) -> None:
    first = segment(
        engine,
        f"{schema}.customers__s1",
        "SELECT 1 AS id, 'ann' AS name UNION ALL SELECT 2, 'bob'",
    )
    second = segment(
        engine,
        f"{schema}.customers__s2",
        "SELECT 2 AS id, 'bobby' AS name UNION ALL SELECT 3, 'cy'",
    )
    version = Version("keys", [first, second], keys=("id",))
    assert read(engine, f"{schema}.customers__v1", version, "id") == [
        (1, "ann"),
        (2, "bobby"),
        (3, "cy"),
    ]


def test_appended_segments_with_other_columns_read_as_one_table(
    engine: Engine, schema: str
) -> None:
    first = segment(engine, f"{schema}.log__s1", "SELECT 1 AS id, 'a' AS message")
    second = segment(engine, f"{schema}.log__s2", "SELECT 2 AS id, 'b' AS message, 5 AS severity")
    version = Version("append", [first, second])
    assert version.rows == 2
    found = read(engine, f"{schema}.log__v1", version, "id")
    assert found == [(1, "a", None), (2, "b", 5)]


def test_a_source_read_whole_reads_its_newest_segment_only(engine: Engine, schema: str) -> None:
    first = segment(engine, f"{schema}.rates__s1", "SELECT 'EUR' AS code, 1.0 AS rate")
    second = segment(engine, f"{schema}.rates__s2", "SELECT 'EUR' AS code, 1.1 AS rate")
    version = Version("replace", [first, second])
    found = read(engine, f"{schema}.rates__v1", version, "code")
    assert [(code, float(rate)) for code, rate in found] == [("EUR", 1.1)]
