"""HTTP JSON API sources: each table is an endpoint, read page by page into Arrow tables.

A source file such as ``sources/shop_api.yml``::

    type: http
    base_url: https://api.example.com/v1
    auth: {type: bearer, token: "${secret:SHOP_API_TOKEN}"}
    rate_limit: 5                 # requests per second
    tables:
      orders:
        path: /orders
        params: {status: open}
        records: data.items       # where the records are in each answer ($ = the root)
        pagination: {style: cursor, cursor_param: after, cursor_path: meta.next, page_size: 100, size_param: limit}
      customers:
        path: /customers
        pagination: {style: link}  # follows the Link: <...>; rel="next" header

Each page becomes one Arrow table (types: see ``headgate.sources.records``). Pagination
stops on an empty page, a short page (fewer records than ``page_size``), a missing next
cursor or link, or ``max_pages``; an API that answers the same page twice is an error,
not an endless loop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urljoin

from pydantic import Field, model_validator

from headgate.project.config import StrictModel
from headgate.sources.errors import SourceError
from headgate.sources.extras import require_drivers
from headgate.sources.records import MalformedRecord, RecordsNotFound, find_optional, records_at
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import pyarrow as pa

    from headgate.sources.http_client import JsonClient

Scalar = str | int | float | bool


class BearerAuth(StrictModel):
    type: Literal["bearer"]
    token: str


class BasicAuth(StrictModel):
    type: Literal["basic"]
    username: str
    password: str


class ApiKeyAuth(StrictModel):
    """An API key sent in a header (``header: X-API-Key``) or a query parameter (``query_param``)."""

    type: Literal["api_key"]
    value: str
    header: str | None = None
    query_param: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> ApiKeyAuth:
        if (self.header is None) == (self.query_param is None):
            raise ValueError("give exactly one of 'header' or 'query_param'")
        return self


HttpAuth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]

_STYLE_FIELDS = {
    "page": {"page_param", "start_page"},
    "offset": {"offset_param"},
    "cursor": {"cursor_param", "cursor_path"},
}


class PaginationConfig(StrictModel):
    style: Literal["none", "page", "offset", "cursor", "link"] = "none"
    page_param: str = "page"
    start_page: int = 1
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    cursor_path: str | None = Field(default=None, description="where the next cursor is in a page")
    size_param: str | None = Field(default=None, description="query parameter for page_size")
    page_size: int | None = Field(default=None, ge=1)
    max_pages: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fits_style(self) -> PaginationConfig:
        if self.style == "cursor" and not self.cursor_path:
            raise ValueError("style 'cursor' needs cursor_path: where the next cursor is")
        if self.style == "offset" and self.page_size is None:
            raise ValueError("style 'offset' needs page_size (records per request)")
        if self.size_param and self.page_size is None:
            raise ValueError("size_param needs page_size")
        for style, names in _STYLE_FIELDS.items():
            stray = sorted(names & self.model_fields_set)
            if stray and self.style != style:
                raise ValueError(f"{', '.join(stray)} only applies to style {style!r}")
        return self


class HttpTableConfig(StrictModel):
    path: str = ""
    params: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    records: str = Field(default="$", description="dotted path to the records ($ = root)")
    pagination: PaginationConfig = Field(default_factory=PaginationConfig)
    description: str | None = None


class HttpSourceConfig(StrictModel):
    """``type: http``: auth, rate limit, timeout and retries belong to the API, so to the source."""

    type: Literal["http"]
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    auth: HttpAuth | None = None
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second")
    timeout: float = Field(default=30.0, gt=0, description="seconds to wait for an answer")
    retries: int = Field(default=5, ge=0, description="retries after a 429, 5xx or network error")
    backoff: float = Field(default=1.0, ge=0, description="first wait in seconds, then doubled")
    max_backoff: float = Field(default=60.0, ge=0)
    max_retry_after: float = Field(
        default=300.0, ge=0, description="longest Retry-After honoured; longer fails the read"
    )
    description: str | None = None
    tables: dict[str, HttpTableConfig]


def read_endpoint(
    config: HttpSourceConfig,
    table_name: str,
    *,
    project_dir: Path,
    source_name: str | None = None,
) -> Iterator[pa.Table]:
    """The table's records, one Arrow table per page (pages without records are skipped).

    Configuration and secrets are checked now; requests start when iteration does.
    Errors are :class:`SourceError`; ``SourceUnavailable`` (transient) when the API
    stays unreachable or overloaded after the retries. No message carries a secret.
    """
    label = (
        f"source {source_name!r} table {table_name!r}"
        if source_name
        else f"http source table {table_name!r}"
    )
    entry = config.tables.get(table_name)
    if entry is None:
        known = ", ".join(sorted(config.tables)) or "none"
        raise SourceError(f"{label}: no such table in the source (its tables: {known})")
    require_drivers("http", source_name)
    secrets = Secrets(project_dir)
    base = secrets.resolve(config.base_url).strip()
    url = (
        urljoin(base.rstrip("/") + "/", secrets.resolve(entry.path).lstrip("/"))
        if entry.path
        else base
    )
    if not url.startswith(("http://", "https://")):
        raise SourceError(
            secrets.mask(f"{label}: {url!r} is not an http(s) URL"),
            hint="base_url starts with https:// (or http://)",
        )
    headers = {"Accept": "application/json", "User-Agent": "headgate"}
    headers.update({k: secrets.resolve(v) for k, v in config.headers.items()})
    headers.update({k: secrets.resolve(v) for k, v in entry.headers.items()})
    params: dict[str, Any] = {
        k: secrets.resolve(v) if isinstance(v, str) else v for k, v in entry.params.items()
    }
    _apply_auth(config.auth, secrets, headers, params)
    return _pages(config, entry, url, headers, params, secrets, label)


def _apply_auth(
    auth: BearerAuth | BasicAuth | ApiKeyAuth | None,
    secrets: Secrets,
    headers: dict[str, str],
    params: dict[str, Any],
) -> None:
    if isinstance(auth, BearerAuth):
        token = secrets.resolve(auth.token)
        secrets.remember(token)
        headers["Authorization"] = f"Bearer {token}"
    elif isinstance(auth, BasicAuth):
        password = secrets.resolve(auth.password)
        secrets.remember(password)
        token = secrets.basic_auth_token(secrets.resolve(auth.username), password)
        headers["Authorization"] = f"Basic {token}"
    elif isinstance(auth, ApiKeyAuth):
        value = secrets.resolve(auth.value)
        secrets.remember(value)
        if auth.header:
            headers[auth.header] = value
        else:
            params[auth.query_param or ""] = value


def _pages(
    config: HttpSourceConfig,
    entry: HttpTableConfig,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any],
    secrets: Secrets,
    label: str,
) -> Iterator[pa.Table]:
    from headgate.sources.http_client import JsonClient, origin_of

    client = JsonClient(
        origin=origin_of(url),
        headers=headers,
        timeout=config.timeout,
        retries=config.retries,
        backoff=config.backoff,
        max_backoff=config.max_backoff,
        max_retry_after=config.max_retry_after,
        rate_limit=config.rate_limit,
        secrets=secrets,
        label=label,
    )
    with client:
        yield from _paginate(client, entry, url, params, label)


def _paginate(
    client: JsonClient, entry: HttpTableConfig, url: str, params: dict[str, Any], label: str
) -> Iterator[pa.Table]:
    from headgate.sources.records import records_to_table

    paging = entry.pagination
    page, offset, token = paging.start_page, 0, None
    next_url: str | None = url
    seen: set[str] = set()
    pages = 0
    while next_url is not None:
        query: dict[str, Any] | None = dict(params)
        if paging.style == "link" and pages > 0:
            query = None  # the next link carries its own query
        elif paging.style == "page":
            query = {**params, paging.page_param: page}
        elif paging.style == "offset":
            query = {**params, paging.offset_param: offset}
        elif paging.style == "cursor" and token is not None:
            query = {**params, paging.cursor_param: token}
        if query is not None and paging.size_param and paging.page_size:
            query[paging.size_param] = paging.page_size
        body, response = client.get(next_url, query)
        shown = client.secrets.mask(str(response.request.url))
        try:
            records = records_at(body, entry.records) if body is not None else []
            table = records_to_table(records)
        except (RecordsNotFound, MalformedRecord) as exc:
            raise SourceError(
                client.secrets.mask(f"{label}: GET {shown}: the answer is not as expected: {exc}"),
                hint="check the table's 'records' path against one answer of the API "
                "(records: data.items, or $ when the answer is the list itself)",
            ) from None
        # an API that ignores the paging parameter sends the same records forever
        fingerprint = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
        if paging.style != "none" and records and fingerprint in seen:
            raise SourceError(
                f"{label}: GET {shown} answered records it had already sent; "
                f"pagination {paging.style!r} would never end",
                hint=_loop_hint(entry),
            )
        seen.add(fingerprint)
        if table.num_rows:
            yield table
        pages += 1
        next_url = None
        if paging.style == "none" or not records:
            break
        if paging.max_pages is not None and pages >= paging.max_pages:
            break
        short = paging.page_size is not None and len(records) < paging.page_size
        if paging.style == "page" and not short:
            page += 1
            next_url = url
        elif paging.style == "offset" and not short:
            offset += len(records)
            next_url = url
        elif paging.style == "cursor":
            found = find_optional(body, paging.cursor_path or "")
            token = None if found in (None, "") else str(found)
            next_url = url if token is not None else None
        elif paging.style == "link":
            link = response.links.get("next", {}).get("url")
            next_url = urljoin(str(response.url), link) if link else None


def _loop_hint(entry: HttpTableConfig) -> str:
    paging = entry.pagination
    if paging.style == "page":
        return f"check that the API pages by the query parameter {paging.page_param!r}"
    if paging.style == "offset":
        return f"check that the API takes the offset as {paging.offset_param!r}"
    if paging.style == "cursor":
        return (
            f"check that the API takes the cursor as {paging.cursor_param!r} and that "
            f"{paging.cursor_path!r} is the next page's cursor"
        )
    return 'the API\'s Link rel="next" header points back to a page already read'
