"""headgate's own runs, checks and deliveries produce the same events external tools post,
so journeys show them and rules alert on them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.observe.observing import Clock, observed_hub, webhook_receiver
from tests.server.hubs import FILES
from tests.support import write_project

pytestmark = pytest.mark.fast


def test_a_run_its_models_checks_and_deliveries_become_events(tmp_path: Path) -> None:
    from headgate.facade import Project

    root = write_project(tmp_path / "shop", FILES)
    with Project.load(root) as project:
        result = project.run()
        assert result.ok
        pipeline = project.component("headgate:prod")
        assert pipeline is not None and pipeline.tool == "headgate"
        assert pipeline.status == "COMPLETED_WITH_WARNINGS"  # an amount above 15 warns
        (run,) = project.component_runs("headgate:prod")
        assert run.run_key == str(result.run_id)
        assert {t["task_key"]: t["status"] for t in run.tasks} == {
            "shop.orders": "COMPLETED",
            "staging.orders": "COMPLETED",
            "marts.revenue": "COMPLETED",
        }
        model = project.component("model:staging.orders")
        assert model is not None and model.status == "COMPLETED" and model.kind == "model"
        tests = project.observed_events(component="model:staging.orders", kind="test-outcomes")
        outcomes = {o["name"]: o["status"] for o in tests[0].body["test_outcomes"]}
        assert "WARNING" in outcomes.values() and "PASSED" in outcomes.values()
        delivery = project.component("delivery:revenue_export")
        assert delivery is not None and delivery.status == "COMPLETED"


def test_a_failed_model_alerts_once_with_what_it_stopped_downstream(tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        config = f"""name: shop
observe:
  rules:
    - name: model-failures
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: "{receiver.url}/hook", body: "{{component}} | {{grouped}}"}}}}]
"""
        files = dict(FILES)
        files["models/staging/orders.sql"] = (
            "select id as order_id, amount, no_such_column from shop.orders"
        )
        root = write_project(tmp_path / "shop", files, config=config)
        clock = Clock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
        with observed_hub(root, clock) as served, served.client() as client:
            answer = client.post("/api/v1/runs", json={"environment": "dev"})
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["run_id"]
            assert served.hub.job_of_run(run_id).wait(timeout=120)
            served.hub.observer.tick()
            bodies = sorted(r.body.decode() for r in receiver.at("/hook"))
            # the pipeline's run and the failing model are alerted; revenue, stopped by
            # the failure upstream, is grouped under the model's alert
            assert bodies == [
                "headgate:dev | ",
                "model:staging.orders | model:marts.revenue",
            ]
