"""schemathesis against the hub's OpenAPI document: no request, with a valid token or
without one, makes it answer 5xx; without one, every answer is 401.

An agent's claim long-polls an empty queue for its ``wait_seconds`` (20 by default, up to
120): a valid or missing wait is sent as a short one (still a few polls of the queue), so
the test does not spend minutes waiting for tasks that never come. Invalid waits (below 0,
above 120, not a number) go out as generated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import import_or_require
from tests.server.hubs import auth, make_project, running_hub

schemathesis = import_or_require("schemathesis", "the API's contract tests")
hypothesis = import_or_require("hypothesis", "the API's contract tests")

pytestmark = pytest.mark.fast
EXAMPLES = 8  # per operation: the edges of every parameter, quick on 2 cores
CLAIM_WAIT = 0.3  # seconds: three polls of the queue, as a long wait does for 20


def shortened_wait(case: Any) -> None:
    """A claim's body with a valid or missing ``wait_seconds`` waits CLAIM_WAIT instead."""
    if not case.path.endswith("/claim") or not isinstance(case.body, dict):
        return
    wait = case.body.get("wait_seconds", 0)
    if isinstance(wait, int | float) and not isinstance(wait, bool) and 0 <= wait <= 120:
        case.body["wait_seconds"] = CLAIM_WAIT


def test_no_generated_request_makes_the_hub_answer_a_server_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "shop")
    failures: list[str] = []
    with running_hub(project) as url:
        schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 30

        for operation in operations:

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy())
            def call(case: Any) -> None:
                shortened_wait(case)
                for headers in (auth(url), {}):
                    response = case.call(base_url=url, timeout=120, headers=headers)
                    unsigned = not headers and response.status_code not in (401, 404)
                    if response.status_code >= 500 or unsigned:
                        failures.append(
                            f"{case.method} {case.formatted_path}: "
                            f"{'without a token ' if not headers else ''}"
                            f"{response.status_code} {response.text[:300]}"
                        )

            call()
    assert failures == []
