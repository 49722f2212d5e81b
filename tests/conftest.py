"""Fixtures shared by every test folder: reaching the loopback services.

A test that needs a service asks for its fixture (``postgres_url``, ``pg_schema``). When
the service cannot be reached the test is skipped with a message naming it, unless
``HEADGATE_REQUIRE_SERVICES=1`` (set by CI), which turns the skip into a failure so CI
never passes by silently skipping.
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

POSTGRES_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
# system catalogs that every created and dropped schema leaves dead rows in
CATALOGS = ("pg_class", "pg_attribute", "pg_depend", "pg_type", "pg_constraint", "pg_index")


def services_required() -> bool:
    """Whether an unreachable service must fail the test instead of skipping it."""
    return os.environ.get("HEADGATE_REQUIRE_SERVICES") == "1"


def masked(url: str) -> str:
    """``url`` with its password hidden, for skip and failure messages."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def require_service(name: str, address: str, error: object) -> NoReturn:
    """Skip (or, under HEADGATE_REQUIRE_SERVICES=1, fail) because ``name`` is unreachable."""
    message = f"{name} not reachable at {masked(address)}: {error}"
    if services_required():
        pytest.fail(f"{message} (HEADGATE_REQUIRE_SERVICES=1 requires it)", pytrace=False)
    pytest.skip(message)


def import_or_require(module: str, needed_for: str) -> Any:
    """``import module``, or skip (under HEADGATE_REQUIRE_SERVICES=1, fail) without it.

    For a module-level import in a test file whose tests need a service's client library;
    unlike ``pytest.importorskip`` it never lets CI pass by skipping.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} not importable ({needed_for}): {exc}"
        if services_required():
            pytest.fail(f"{message} (HEADGATE_REQUIRE_SERVICES=1 requires it)", pytrace=False)
        pytest.skip(message, allow_module_level=True)


def libpq_url(url: str) -> str:
    """A SQLAlchemy-style URL (``postgresql+psycopg://``) as psycopg itself accepts it."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL's URL (``HEADGATE_TEST_POSTGRES``), checked to be reachable."""
    url = os.environ.get("HEADGATE_TEST_POSTGRES", POSTGRES_DEFAULT)
    try:
        import psycopg

        with psycopg.connect(libpq_url(url), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
            if os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":
                # a server without autovacuum slows every DDL statement down as earlier
                # sessions' dead catalog rows pile up: reclaim them once per session
                for catalog in CATALOGS:
                    conn.execute(f"VACUUM pg_catalog.{catalog}")
    except Exception as exc:
        require_service("PostgreSQL", url, exc)
    return url


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema (if created) is dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"hg_test_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def drop_schemas_with_prefix(url: str, prefix: str) -> None:
    """Drop every schema whose name starts with ``prefix`` (what one test's engine created)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (prefix,)
        ).fetchall()
        for (name,) in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def pg_prefix(postgres_url: str) -> Iterator[str]:
    """A schema prefix of one test's own for a PostgreSQL engine; its schemas are dropped after."""
    prefix = f"hg{uuid.uuid4().hex[:8]}_"
    yield prefix
    drop_schemas_with_prefix(postgres_url, prefix)


@pytest.fixture
def postgres_engine(postgres_url: str, pg_prefix: str, tmp_path: Any) -> Iterator[Any]:
    """headgate's PostgreSQL engine on the test server, with the test's schema prefix."""
    from headgate.engines.postgres import PostgresEngine
    from headgate.project.config import PostgresEngineConfig

    config = PostgresEngineConfig(type="postgres", url=postgres_url, schema_prefix=pg_prefix)
    engine = PostgresEngine.open(config, tmp_path)
    yield engine
    engine.close()


def postgres_engine_yaml(url: str, prefix: str) -> str:
    """headgate.yml's engine block for the test PostgreSQL with a test's schema prefix."""
    return f"engine:\n  type: postgres\n  url: {url}\n  schema_prefix: {prefix}\n"


TEST_HANG_LIMIT = 300.0  # seconds; the slowest test takes a few


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """A test that hangs (a deadlock, a server that never answers) stops its worker with every
    thread's stack on stderr, instead of holding the whole suite forever. Not a measure of
    speed: no test comes near the limit."""
    faulthandler.dump_traceback_later(TEST_HANG_LIMIT, exit=True, file=sys.__stderr__ or sys.stderr)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


TIER_MARKERS = {"services", "slow", "spark", "browser"}


# Files whose tests take tens of seconds though not marked slow (measured on 2 cores).
LONG_RUNNING = (
    "tests/server/test_openapi_contract.py",
    "tests/security/test_secret_scan.py",
    "tests/security/test_route_permissions.py",
    "tests/cli/test_users_cli.py",
    "tests/cli/test_quality_cli.py",
    "tests/engines/test_files.py",
)


def takes_long(item: pytest.Item) -> bool:
    """Whether ``item`` is marked slow or sits in one of the LONG_RUNNING files."""
    return item.get_closest_marker("slow") is not None or item.nodeid.startswith(LONG_RUNNING)


def long_first(items: list[pytest.Item]) -> None:
    """The files holding a long test first, each file's tests together and in their order
    (a module's fixtures are set up once), the rest in the order collected."""
    long_files = {item.nodeid.split("::")[0] for item in items if takes_long(item)}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in long_files)  # stable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test without a heavier tier marker is in the default ``fast`` tier.

    In an xdist worker the long tests come first (long_first): the workers take tests in
    that order, so the last ones handed out are short and neither worker is left running a
    long test at the end while the other has nothing to do.
    """
    for item in items:
        if not TIER_MARKERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.fast)
    if hasattr(config, "workerinput"):
        long_first(items)


# One Chromium per test process (Debian's, never a downloaded build), for every browser test:
# Playwright's sync API allows one running instance per thread.
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = import_or_require("playwright.sync_api", "browser tests")
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        require_service("Chromium", CHROMIUM, "not installed (make chromium installs it)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=found, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
