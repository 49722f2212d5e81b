"""Reading JSON APIs page by page, from a real HTTP server on a loopback port."""

from __future__ import annotations

import base64
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from headgate.engines.duckdb import DuckDBEngine
from headgate.project.config import DuckDBEngineConfig
from headgate.sources import HttpSourceConfig, SourceError, SourceUnavailable, read_endpoint
from headgate.sources.http_client import retry_after_seconds
from tests.sources.conftest import Api, Reply, Request

PEOPLE = [
    {
        "id": i,
        "name": f"Zoë {i} ✓",
        "score": i + 0.5 if i % 2 else i,
        "vip": i % 3 == 0,
        "address": {"city": "Köln", "zip": f"{50000 + i}"},
        "tags": ["a", "b"][: i % 3],
        "left_at": None,
    }
    for i in range(1, 26)
]


def source(base_url: str, tables: dict[str, Any], **options: Any) -> HttpSourceConfig:
    settings = {"backoff": 0.1, "max_backoff": 1.0, "timeout": 5, **options}
    return HttpSourceConfig.model_validate(
        {"type": "http", "base_url": base_url, "tables": tables, **settings}
    )


def read(config: HttpSourceConfig, table: str, tmp_path: Path) -> list[pa.Table]:
    return list(read_endpoint(config, table, project_dir=tmp_path, source_name="people_api"))


def ids(pages: list[pa.Table]) -> list[int]:
    return [i for page in pages for i in page.column("id").to_pylist()]


def test_page_number_pagination_and_record_types(api: Api, tmp_path: Path) -> None:
    def people(request: Request) -> Reply:
        page, size = int(request.query["page"]), int(request.query["per_page"])
        return Reply(body={"data": {"items": PEOPLE[(page - 1) * size : page * size]}})

    api.route("/people", people)
    config = source(
        api.url + "/v1/../",
        {
            "people": {
                "path": "/people",
                "records": "$.data.items",
                "pagination": {"style": "page", "size_param": "per_page", "page_size": 10},
            }
        },
    )
    pages = read(config, "people", tmp_path)
    assert [p.num_rows for p in pages] == [10, 10, 5] and ids(pages) == list(range(1, 26))
    assert len(api.hits("/people")) == 3  # the short third page ends it
    schema = pages[0].schema
    assert schema.field("id").type == pa.int64() and schema.field("score").type == pa.float64()
    assert schema.field("name").type == pa.string() and schema.field("vip").type == pa.bool_()
    assert schema.field("address").type == pa.json_() and schema.field("left_at").type == pa.null()
    first = pages[0].to_pylist()[0]
    assert first["name"] == "Zoë 1 ✓" and first["address"] == '{"city":"Köln","zip":"50001"}'
    assert first["tags"] == '["a"]'


def test_offset_pagination_with_records_at_the_root(api: Api, tmp_path: Path) -> None:
    api.route(
        "/people",
        lambda r: Reply(
            body=PEOPLE[int(r.query["offset"]) : int(r.query["offset"]) + int(r.query["limit"])]
        ),
    )
    config = source(
        api.url,
        {
            "p": {
                "path": "people",
                "pagination": {"style": "offset", "size_param": "limit", "page_size": 10},
            }
        },
    )
    assert ids(read(config, "p", tmp_path)) == list(range(1, 26))
    assert [r.query["offset"] for r in api.hits("/people")] == ["0", "10", "20"]


def test_cursor_pagination_follows_the_next_token(api: Api, tmp_path: Path) -> None:
    def people(request: Request) -> Reply:
        start = int(request.query.get("after", "0"))
        chunk = PEOPLE[start : start + 7]
        after = str(start + 7) if start + 7 < len(PEOPLE) else None
        return Reply(body={"items": chunk, "meta": {"next": after}})

    api.route("/people", people)
    config = source(
        api.url,
        {
            "p": {
                "path": "/people?fields=all",
                "params": {"status": "active"},
                "records": "items",
                "pagination": {
                    "style": "cursor",
                    "cursor_param": "after",
                    "cursor_path": "meta.next",
                },
            }
        },
    )
    assert ids(read(config, "p", tmp_path)) == list(range(1, 26))
    assert [r.query.get("after") for r in api.hits("/people")] == [None, "7", "14", "21"]
    assert all(r.query["status"] == "active" for r in api.hits("/people"))
    assert all(r.query["fields"] == "all" for r in api.hits("/people"))  # the path's own query


def test_link_header_pagination(api: Api, tmp_path: Path) -> None:
    def people(request: Request) -> Reply:
        page = int(request.query.get("p", "1"))
        headers = {"Link": f'</people?p={page + 1}&sig=x>; rel="next"'} if page < 3 else {}
        return Reply(body=PEOPLE[(page - 1) * 9 : page * 9], headers=headers)

    api.route("/people", people)
    config = source(api.url, {"p": {"path": "/people", "pagination": {"style": "link"}}})
    assert ids(read(config, "p", tmp_path)) == list(range(1, 26))
    assert [r.query.get("p") for r in api.hits("/people")] == [None, "2", "3"]


def test_max_pages_and_a_paging_parameter_the_api_ignores(api: Api, tmp_path: Path) -> None:
    api.route("/people", lambda r: Reply(body=PEOPLE[:5]))
    capped = source(
        api.url, {"p": {"path": "/people", "pagination": {"style": "page", "max_pages": 1}}}
    )
    assert ids(read(capped, "p", tmp_path)) == [1, 2, 3, 4, 5]
    endless = source(api.url, {"p": {"path": "/people", "pagination": {"style": "page"}}})
    with pytest.raises(SourceError) as caught:
        read(endless, "p", tmp_path)
    assert "already sent" in caught.value.message and "'page'" in (caught.value.hint or "")


def test_429_waits_as_retry_after_says(api: Api, tmp_path: Path) -> None:
    calls: list[float] = []

    def limited(request: Request) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"})
        return Reply(body=PEOPLE[:3])

    api.route("/people", limited)
    assert ids(read(source(api.url, {"p": {"path": "/people"}}), "p", tmp_path)) == [1, 2, 3]
    assert (
        len(calls) == 2 and calls[1] - calls[0] >= 0.9
    )  # Retry-After's 1 s, not the 0.1 s backoff


def test_retry_after_as_an_http_date(api: Api, tmp_path: Path) -> None:
    calls: list[float] = []

    def limited(request: Request) -> Reply:
        calls.append(time.monotonic())
        if len(calls) == 1:
            when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
            return Reply(429, {}, headers={"Retry-After": when})
        return Reply(body=PEOPLE[:1])

    api.route("/people", limited)
    assert ids(read(source(api.url, {"p": {"path": "/people"}}), "p", tmp_path)) == [1]
    # the date is 2 s ahead to the whole second: the client waits until it, at least 1 s
    assert calls[1] - calls[0] >= 0.9
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("2.5") == 2.5 and retry_after_seconds("soon") is None


def test_503_is_retried_with_backoff_then_succeeds(api: Api, tmp_path: Path) -> None:
    calls: list[float] = []

    def flaky(request: Request) -> Reply:
        calls.append(time.monotonic())
        return Reply(503, "<h1>busy</h1>") if len(calls) < 3 else Reply(body=PEOPLE[:2])

    api.route("/people", flaky)
    config = source(api.url, {"p": {"path": "/people"}}, backoff=0.2)
    assert ids(read(config, "p", tmp_path)) == [1, 2]
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.19 and calls[2] - calls[1] >= 0.39  # doubled


def test_an_api_that_stays_down_is_transient_after_the_retries(api: Api, tmp_path: Path) -> None:
    api.route("/people", lambda r: Reply(503, {"error": "maintenance"}))
    config = source(api.url, {"p": {"path": "/people"}}, retries=2)
    with pytest.raises(SourceUnavailable) as caught:
        read(config, "p", tmp_path)
    assert caught.value.transient and len(api.hits("/people")) == 3
    assert "source 'people_api' table 'p'" in caught.value.message
    assert "after 3 attempt(s)" in caught.value.message and "503" in caught.value.message


def test_a_slow_answer_times_out(api: Api, tmp_path: Path) -> None:
    api.route("/people", lambda r: Reply(body=PEOPLE, delay=3))
    config = source(api.url, {"p": {"path": "/people"}}, timeout=0.3, retries=1)
    with pytest.raises(SourceUnavailable) as caught:  # waiting the 3 s out would succeed
        read(config, "p", tmp_path)
    assert "no answer within the timeout" in caught.value.message and len(api.hits("/people")) == 2


def test_unreachable_api_is_transient(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = source(f"http://127.0.0.1:{port}", {"p": {"path": "/people"}}, retries=1)
    with pytest.raises(SourceUnavailable) as caught:
        read(config, "p", tmp_path)
    assert (
        "ConnectError" in caught.value.message
        and f"127.0.0.1:{port}/people" in caught.value.message
    )


def test_an_html_page_instead_of_json_is_explained(api: Api, tmp_path: Path) -> None:
    page = "<!doctype html><html><head><title>Sign in – Portal</title></head><body>…</body></html>"
    api.route(
        "/people", lambda r: Reply(body=page, headers={"Content-Type": "text/html; charset=utf-8"})
    )
    with pytest.raises(SourceError) as caught:
        read(source(api.url, {"p": {"path": "/people"}}), "p", tmp_path)
    assert not caught.value.transient
    assert "HTML page titled 'Sign in – Portal' instead of JSON" in caught.value.message
    assert f"{api.url}/people" in caught.value.message and "credentials" in (
        caught.value.hint or ""
    )


def test_a_body_that_is_not_json_is_explained(api: Api, tmp_path: Path) -> None:
    api.route("/people", lambda r: Reply(body='{"items": [{"id": 1}, {"id": 2'))
    with pytest.raises(SourceError) as caught:
        read(source(api.url, {"p": {"path": "/people", "records": "items"}}), "p", tmp_path)
    assert "not valid JSON (line 1 column" in caught.value.message


def test_malformed_records_and_a_wrong_records_path(api: Api, tmp_path: Path) -> None:
    api.route("/scalars", lambda r: Reply(body={"items": [{"id": 1}, 2]}))
    api.route("/people", lambda r: Reply(body={"data": {"rows": PEOPLE[:2]}}))
    config = source(
        api.url,
        {
            "s": {"path": "/scalars", "records": "items"},
            "p": {"path": "/people", "records": "data.items"},
        },
    )
    with pytest.raises(SourceError, match="record 1 is a JSON number, not an object"):
        read(config, "s", tmp_path)
    with pytest.raises(SourceError, match=r"no key 'items' at \$\.data \(its keys: rows\)"):
        read(config, "p", tmp_path)


def test_auth_from_secrets_is_sent_and_never_shown(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEOPLE_TOKEN", "tok-3f9a1c77")
    (tmp_path / ".headgate").mkdir()
    (tmp_path / ".headgate" / "secrets.yml").write_text(
        "PEOPLE_PASSWORD: 'pa:ss w0rd'\nPEOPLE_KEY: key-55aa\n"
    )
    basic = base64.b64encode(b"ann:pa:ss w0rd").decode()
    expected = {
        "/bearer": ("authorization", "Bearer tok-3f9a1c77"),
        "/basic": ("authorization", f"Basic {basic}"),
        "/key": ("x-api-key", "key-55aa"),
    }

    def guarded(request: Request) -> Reply:
        name, value = expected[request.path]
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Reply(body=PEOPLE[:1]) if headers.get(name) == value else Reply(401, {"error": "no"})

    for path in expected:
        api.route(path, guarded)
    auths = {
        "/bearer": {"type": "bearer", "token": "${secret:PEOPLE_TOKEN}"},
        "/basic": {"type": "basic", "username": "ann", "password": "${secret:PEOPLE_PASSWORD}"},
        "/key": {"type": "api_key", "header": "X-API-Key", "value": "${secret:PEOPLE_KEY}"},
    }
    for path, auth in auths.items():
        config = source(api.url, {"p": {"path": path}}, auth=auth)
        assert ids(read(config, "p", tmp_path)) == [1]
    api.route("/query", lambda r: Reply(401, {"error": f"bad key {r.query.get('api_key')}"}))
    config = source(
        api.url,
        {"p": {"path": "/query"}},
        auth={"type": "api_key", "query_param": "api_key", "value": "${secret:PEOPLE_KEY}"},
    )
    with pytest.raises(SourceError) as caught:
        read(config, "p", tmp_path)
    assert api.hits("/query")[0].query["api_key"] == "key-55aa"
    text = caught.value.render()
    assert "key-55aa" not in text and "api_key=***" in text and "HTTP 401" in text
    assert "credentials" in (caught.value.hint or "")


def test_rate_limit_spaces_the_requests(api: Api, tmp_path: Path) -> None:
    api.route(
        "/people", lambda r: Reply(body=PEOPLE[int(r.query["page"]) - 1 : int(r.query["page"])])
    )
    config = source(
        api.url,
        {"p": {"path": "/people", "pagination": {"style": "page", "page_size": 1, "max_pages": 6}}},
        rate_limit=10,
    )
    started = time.monotonic()
    assert ids(read(config, "p", tmp_path)) == [1, 2, 3, 4, 5, 6]
    # six request starts, each at least 0.1 s after the one before: never less than 0.5 s,
    # however busy the machine (a lower bound on time the limiter itself waits)
    assert time.monotonic() - started >= 0.5
    assert [int(r.query["page"]) for r in api.hits("/people")] == [1, 2, 3, 4, 5, 6]


def test_a_next_link_to_another_host_is_refused(api: Api, tmp_path: Path) -> None:
    port = api.url.rsplit(":", 1)[1]
    api.route(
        "/people",
        lambda r: Reply(
            body=PEOPLE[:2], headers={"Link": f'<http://localhost:{port}/people?p=2>; rel="next"'}
        ),
    )
    config = source(
        api.url,
        {"p": {"path": "/people", "pagination": {"style": "link"}}},
        auth={"type": "bearer", "token": "t0ken-xyz"},
    )
    with pytest.raises(SourceError) as caught:
        read(config, "p", tmp_path)
    assert "another host" in caught.value.message and len(api.hits("/people")) == 1


def test_pages_stack_and_land_in_duckdb(api: Api, tmp_path: Path) -> None:
    api.route(
        "/people",
        lambda r: Reply(body=PEOPLE[(int(r.query["page"]) - 1) * 2 : int(r.query["page"]) * 2]),
    )
    config = source(
        api.url, {"p": {"path": "/people", "pagination": {"style": "page", "page_size": 2}}}
    )
    pages = read(config, "p", tmp_path)
    table = pa.concat_tables(pages, promote_options="permissive")
    assert table.num_rows == 25 and table.schema.field("score").type == pa.float64()
    engine = DuckDBEngine.open(DuckDBEngineConfig(path=str(tmp_path / "w.duckdb")), tmp_path)
    try:
        session = engine.session()
        session.create_table_from_arrow("people", table)
        described = {row[0]: row[1] for row in session.execute("DESCRIBE people")}
        assert described["address"] == "JSON" and described["id"] == "BIGINT"
        city, vips = session.execute(
            "SELECT max(address->>'$.city'), count(*) FILTER (WHERE vip) FROM people"
        )[0]
        assert city == "Köln" and vips == 8
    finally:
        engine.close()
