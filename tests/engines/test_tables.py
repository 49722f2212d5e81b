"""The engine interface, the same on every engine: tables and views made, replaced, swapped,
dropped and found in the catalog; row counts; transactions."""

from __future__ import annotations

import pytest

from headgate.engines.base import Engine, quote
from headgate.errors import EngineError


def rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    return sorted(engine.session().execute(sql))


def test_a_table_made_from_a_query_says_how_many_rows_it_holds(engine: Engine, schema: str) -> None:
    session = engine.session()
    target = f"{schema}.orders"
    made = session.create_table_as(
        target, "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, NULL"
    )
    assert made == 3
    assert session.row_count(target) == 3
    assert session.table_exists(target)
    assert not session.table_exists(f"{schema}.nothing_here")
    assert [name for name, _ in session.columns_of(target)] == ["id", "name"]
    assert session.create_table_as(target, "SELECT 7 AS id", replace=True) == 1
    assert rows(engine, f"SELECT * FROM {quote(target)}") == [(7,)]


def test_statements_that_change_rows_answer_with_the_count(engine: Engine, schema: str) -> None:
    session = engine.session()
    target = f"{schema}.numbers"
    session.create_table_as(target, "SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3")
    assert session.execute(f"INSERT INTO {quote(target)} SELECT n + 10 FROM {quote(target)}") == [
        (3,)
    ]
    if engine.capabilities.dialect == "spark":  # Parquet tables are written once, never edited
        with pytest.raises(EngineError, match="does not support DELETE"):
            session.execute(f"DELETE FROM {quote(target)} WHERE n > 2")
        return
    assert session.execute(f"DELETE FROM {quote(target)} WHERE n > 2") == [(4,)]
    assert session.row_count(target) == 2


def test_a_view_is_replaced_even_when_its_columns_change(engine: Engine, schema: str) -> None:
    session = engine.session()
    view = f"{schema}.latest"
    session.create_view_as(view, "SELECT 1 AS a, 2 AS b")
    session.create_view_as(view, "SELECT 'x' AS c")  # other names and types
    assert session.columns_of(view)[0][0] == "c"
    assert rows(engine, f"SELECT * FROM {quote(view)}") == [("x",)]


def test_a_staged_table_is_swapped_in_whole(engine: Engine, schema: str) -> None:
    session = engine.session()
    session.create_table_as(f"{schema}.target", "SELECT 1 AS v")
    session.create_table_as(f"{schema}.target__staged", "SELECT 2 AS v UNION ALL SELECT 3")
    session.swap_in(f"{schema}.target__staged", f"{schema}.target")
    assert rows(engine, f"SELECT v FROM {quote(schema + '.target')}") == [(2,), (3,)]
    assert not session.table_exists(f"{schema}.target__staged")


def test_the_catalog_lists_tables_and_views_and_drops_each_as_what_it_is(
    engine: Engine, schema: str
) -> None:
    session = engine.session()
    session.create_table_as(f"{schema}.t1", "SELECT 1 AS a")
    session.create_view_as(f"{schema}.v1", f"SELECT * FROM {quote(schema + '.t1')}")
    assert engine.existing_tables(schema) == {f"{schema}.t1", f"{schema}.v1"}
    assert engine.existing_views({schema}) == {f"{schema}.v1"}
    engine.drop_relations([f"{schema}.v1", f"{schema}.t1"])
    assert engine.existing_tables(schema) == set()


def test_names_longer_than_the_engine_allows_stay_apart_and_keep_their_full_name(
    engine: Engine, schema: str
) -> None:
    """``<model>__<fingerprint>__v<version>`` passes PostgreSQL's 63 bytes; two versions
    of one model differ only at the end, and must never meet."""
    session = engine.session()
    base = f"{schema}.intermediate__orders_deduplicated__0123456789abcdef"
    first, second = f"{base}__v111111111111", f"{base}__v222222222222"
    session.create_table_as(first, "SELECT 1 AS v")
    session.create_table_as(second, "SELECT 2 AS v")
    session.create_view_as(f"{base}__v333333333333", f"SELECT * FROM {quote(second)}")
    assert rows(engine, f"SELECT v FROM {quote(first)}") == [(1,)]
    assert rows(engine, f"SELECT v FROM {quote(base + '__v333333333333')}") == [(2,)]
    assert engine.existing_tables(schema) == {first, second, f"{base}__v333333333333"}
    assert engine.existing_views({schema}) == {f"{base}__v333333333333"}
    assert session.columns_of(second)[0][0] == "v"
    assert session.table_exists(second)
    session.swap_in(second, f"{base}__vrenamed000000")
    assert f"{base}__vrenamed000000" in engine.existing_tables(schema)
    engine.drop_relations(sorted(engine.existing_tables(schema)))
    assert engine.existing_tables(schema) == set()


def test_ddl_in_a_transaction_is_undone_with_it(engine: Engine, schema: str) -> None:
    session = engine.session()
    with pytest.raises(EngineError), session.transaction():
        session.create_table_as(f"{schema}.half", "SELECT 1 AS a")
        session.execute("SELECT * FROM no_such_table_anywhere")
    # Spark has no transactions: each statement stood alone, and said so in its capabilities
    assert session.table_exists(f"{schema}.half") == (not engine.capabilities.transactional_ddl)


def test_a_refused_statement_is_an_engine_error_with_the_engines_reason(engine: Engine) -> None:
    with pytest.raises(EngineError) as caught:
        engine.session().execute("SELECT * FROM no_such_table_anywhere")
    assert "no_such_table_anywhere" in str(caught.value)


def test_capabilities_say_what_the_engine_does(engine: Engine) -> None:
    capabilities = engine.capabilities
    assert capabilities.dialect in ("duckdb", "postgres", "spark")
    assert capabilities.identifier_quote == ("`" if capabilities.dialect == "spark" else '"')
    assert capabilities.transactional_ddl == (capabilities.dialect != "spark")
    assert engine.session().capabilities == capabilities
    assert capabilities.reads_files == (capabilities.dialect == "duckdb")
