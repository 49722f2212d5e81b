"""What several store tests share: a store on SQLite and on PostgreSQL, and a run in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headgate.state.store import StateStore


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A store on SQLite, or on the test PostgreSQL in a fresh schema."""
    if request.param == "sqlite":
        with StateStore.open(None, project_dir=tmp_path) as opened:
            yield opened
        return
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("pg_schema")
    with StateStore.open(url, project_dir=tmp_path, schema=schema) as opened:
        yield opened


def new_run(store: StateStore, *, command: str = "run", host: str | None = None) -> int:
    """A run recorded in ``store`` (in dev, running); its id."""
    return store.start_run(
        environment="dev",
        command=command,
        selection=None,
        user=None,
        host=host,
        pid=None,
        git_commit=None,
    )
