"""GET JSON from an API politely: a rate limit, retries with backoff, ``Retry-After``, clear errors.

429 and 5xx answers and network failures are retried with exponential backoff (plus a
little jitter, so many readers do not retry in step); a ``Retry-After`` header, in
seconds or as an HTTP date, replaces the backoff for that wait. Requests only go to the
API's own origin: a redirect or ``Link`` to another host would carry the credentials
there, so it is refused. Every message passes through the source's mask.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from headgate.sources.errors import SourceError, SourceUnavailable
from headgate.sources.secrets import Secrets

if TYPE_CHECKING:
    import httpx

NOT_RETRIED_5XX = {501, 505}  # a server lacking the method or HTTP version answers so every time


class RateLimiter:
    """Spaces request starts at least ``1 / per_second`` apart, across threads."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            sleep(start - now)


_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(origin: str, per_second: float) -> RateLimiter:
    """One limiter per API origin and rate in this process: tables of one API share it."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((origin, per_second), RateLimiter(per_second))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds to wait (it may be a number or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class JsonClient:
    """GETs JSON documents for one table of one HTTP source."""

    def __init__(
        self,
        *,
        origin: str,
        headers: Mapping[str, str],
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
        rate_limit: float | None,
        secrets: Secrets,
        label: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.origin = origin
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.secrets = secrets
        self.label = label
        self.sleep = sleep
        self.limiter = shared_limiter(origin, rate_limit) if rate_limit else None
        self.attempts_made = 0
        self._client = httpx.Client(
            headers=dict(headers),
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            event_hooks={"request": [self._same_origin]},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        """The decoded JSON body and the response, after at most ``retries`` retries."""
        import httpx

        attempts = self.retries + 1
        for attempt in range(attempts):
            if self.limiter is not None:
                self.limiter.wait(self.sleep)
            self.attempts_made += 1
            last = attempt == attempts - 1
            try:
                # merged into the URL's own query (httpx's params= would replace it)
                target = httpx.URL(url).copy_merge_params(dict(params)) if params else url
                response = self._client.get(target)
            except httpx.TransportError as exc:
                shown = self._shown(str(exc.request.url) if _has_request(exc) else url)
                problem = _transport_problem(exc)
                if last:
                    raise SourceUnavailable(
                        self.secrets.mask(
                            f"{self.label}: GET {shown} failed after {attempts} attempt(s): {problem}"
                        ),
                        hint="check that the API is reachable from this machine, and 'timeout'; "
                        "a run retries transient failures",
                    ) from None
                self.sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status == 429 or (500 <= status < 600 and status not in NOT_RETRIED_5XX):
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None and wait > self.max_retry_after:
                    raise SourceUnavailable(
                        self._message(response, f"asked to wait {wait:.0f} s before retrying"),
                        hint="try again later, or raise max_retry_after in the source file",
                    )
                if last:
                    raise SourceUnavailable(
                        self._message(response, f"still failing after {attempts} attempt(s)"),
                        hint="the API is overloaded or failing; lower rate_limit, or retry later",
                    )
                self.sleep(wait if wait is not None else self._backoff(attempt))
                continue
            if status >= 400:
                raise SourceError(self._message(response, "refused"), hint=_status_hint(status))
            return self._decode(response), response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int) -> float:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        return delay + random.uniform(0, delay * 0.1)

    def _same_origin(self, request: httpx.Request) -> None:
        origin = origin_of(str(request.url))
        if origin != self.origin:
            raise SourceError(
                self.secrets.mask(
                    f"{self.label}: the API sent headgate to {origin}, another host than "
                    f"{self.origin}; headgate does not send the source's credentials there"
                ),
                hint="if the API moved, set base_url to its new address",
            )

    def _decode(self, response: httpx.Response) -> Any:
        content_type = response.headers.get("content-type", "").lower()
        body = response.content
        if not body.strip():
            return None
        head = body.lstrip()[:200].decode("utf-8", "replace")
        if "html" in content_type or head.startswith("<"):
            title = re.search(
                r"<title[^>]*>(.*?)</title>", body[:4000].decode("utf-8", "replace"), re.I | re.S
            )
            what = f" titled {' '.join(title.group(1).split())!r}" if title else ""
            raise SourceError(
                self._message(response, f"answered with an HTML page{what} instead of JSON"),
                hint="check base_url and path, and the credentials: a login or error page "
                "often means the request did not reach the API, or was not let in",
            )
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = (
                f" (line {exc.lineno} column {exc.colno})"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            start = " ".join(head[:60].split())
            raise SourceError(
                self._message(
                    response,
                    f"answered with a body that is not valid JSON{where}; it starts {start!r}",
                ),
                hint="check that the URL is the API's JSON endpoint (not a file or a web page)",
            ) from None

    def _message(self, response: httpx.Response, what: str) -> str:
        reason = f"{response.status_code} {response.reason_phrase}".strip()
        return self.secrets.mask(
            f"{self.label}: GET {self._shown(str(response.request.url))} {what} (HTTP {reason})"
        )

    def _shown(self, url: str) -> str:
        return self.secrets.mask(url)


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``: requests never leave it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when it was never set
    except RuntimeError:
        return False
    return True


def _transport_problem(exc: Exception) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within the timeout ({type(exc).__name__})"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _status_hint(status: int) -> str | None:
    if status in (401, 403):
        return "the API refused the credentials: check the source's auth and the secrets it names"
    if status == 404:
        return "check base_url and the table's path"
    if status in (400, 422):
        return "the API rejected the request: check the table's params and pagination settings"
    return None
