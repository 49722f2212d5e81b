"""Rules and alerts end to end: events posted to a real hub, notices received by a real
webhook receiver and a real SMTP server; one per root cause, suppressed, resolved."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.observe.observing import (
    Clock,
    Mailbox,
    Receiver,
    observed_hub,
    observed_project,
    smtp_server,
    webhook_receiver,
)

pytestmark = pytest.mark.fast

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as found:
        yield found


def _rules_yaml(receiver: Receiver, mailbox: Mailbox) -> str:
    return f"""
observe:
  hub_url: https://hub.example.com
  owners: {{data-platform: dp@example.com}}
  components:
    - {{key: extract, kind: batch_pipeline, tool: airflow, owner: data-platform}}
    - {{key: load, kind: batch_pipeline, tool: airflow, owner: loaders}}
    - {{key: report, kind: batch_pipeline, tool: tableau}}
  journeys:
    - name: nightly
      path: [extract, load, report]
  rules:
    - name: failures
      journey: nightly
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      suppress_for: 1h
      actions:
        - webhook:
            url: {receiver.url}/hook
            headers: {{X-Token: "${{secret:HOOK_TOKEN}}"}}
            body: '{{{{"what": "{{status}}", "component": "{{component}}", "also": "{{grouped}}", "link": "{{link}}", "times": {{occurrences}}}}}}'
        - slack: {{url: "{receiver.url}/slack"}}
        - email:
            to: [oncall@example.com]
            from: headgate@example.com
            smtp: {{host: 127.0.0.1, port: {mailbox.port}}}
"""


def _post(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    answer = client.post("/api/v1/events/batch", json={"events": events})
    assert answer.status_code == 201, answer.text


def _run(component: str, run_key: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "event_type": "run-status",
        "pipeline_key": component,
        "run_key": run_key,
        "status": status,
        "event_timestamp": at.isoformat(),
    }


def test_one_alert_per_root_cause_suppressed_reminded_then_resolved(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    root = observed_project(tmp_path / "p", _rules_yaml(receiver, mailbox))
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        hub = served.hub
        # the extract fails, and so do the two steps that read what it writes
        _post(
            client,
            [
                _run("extract", "r1", "FAILED", START),
                _run("load", "r1", "FAILED", START + timedelta(minutes=1)),
                _run("report", "r1", "FAILED", START + timedelta(minutes=2)),
            ],
        )
        hub.observer.tick()
        (hook,) = receiver.at("/hook")
        assert hook.headers["X-Token"] == "s3cret-token"
        assert hook.json() == {
            "what": "alert",
            "component": "extract",
            "also": "load, report",
            "link": hook.json()["link"],
            "times": 1,
        }
        assert hook.json()["link"].startswith("https://hub.example.com/alerts/")
        (slack,) = receiver.at("/slack")
        message = slack.json()
        assert "extract" in message["text"]
        assert message["blocks"][0]["type"] == "section"
        assert "Also affected downstream: load, report" in message["blocks"][1]["text"]["text"]
        (mail,) = mailbox.messages
        assert sorted(mailbox.envelopes[0][1]) == ["dp@example.com", "oncall@example.com"]
        assert "extract" in mail["Subject"]
        assert "Owner: data-platform" in mail.get_payload()

        # it fails again within the hour: counted, nobody paged
        clock.now = START + timedelta(minutes=30)
        _post(client, [_run("extract", "r2", "FAILED", clock.now)])
        hub.observer.tick()
        assert len(receiver.at("/hook")) == 1 and len(mailbox.messages) == 1

        # after the suppression interval, one reminder
        clock.now = START + timedelta(hours=2)
        _post(client, [_run("extract", "r3", "FAILED", clock.now)])
        hub.observer.tick()
        reminder = receiver.at("/hook")[-1].json()
        assert (reminder["what"], reminder["times"]) == ("reminder", 3)
        assert len(receiver.at("/hook")) == 2

        # it recovers: one resolved notice for the root and what it grouped
        clock.now = START + timedelta(hours=3)
        _post(client, [_run("extract", "r4", "COMPLETED", clock.now)])
        hub.observer.tick()
        resolved = receiver.at("/hook")[-1].json()
        assert resolved["what"] == "resolved" and resolved["component"] == "extract"
        assert len(receiver.at("/hook")) == 3
        assert len(receiver.at("/slack")) == 3 and len(mailbox.messages) == 3
        alerts = client.get("/api/v1/alerts").json()["items"]
        assert {a["status"] for a in alerts} == {"resolved"}

        # nothing kept or shown carries the secret's value
        notices = client.get("/api/v1/alerts/notices").json()["items"]
        assert notices and "s3cret-token" not in str(notices)


def test_a_failure_downstream_alone_is_its_own_root(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "t")
    root = observed_project(tmp_path / "p", _rules_yaml(receiver, mailbox))
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        hub = served.hub
        _post(
            client, [_run("extract", "r1", "COMPLETED", START), _run("load", "r1", "FAILED", START)]
        )
        hub.observer.tick()
        (hook,) = receiver.at("/hook")
        assert hook.json()["component"] == "load"
        (envelope,) = mailbox.envelopes
        assert envelope[1] == ["oncall@example.com"]  # `loaders` has no address: on-call only


def test_a_sender_sends_at_its_rate_and_the_rest_wait_their_turn(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = f"""
observe:
  rules:
    - name: any-failure
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions:
        - webhook: {{url: "{receiver.url}/hook"}}
          limit: 2
          per: 1m
"""
    root = observed_project(tmp_path / "p", config)
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        hub = served.hub
        _post(client, [_run(f"job{i}", "r1", "FAILED", START) for i in range(5)])
        hub.observer.tick()
        assert len(receiver.at("/hook")) == 2
        clock.now = START + timedelta(seconds=61)
        hub.observer.tick()
        assert len(receiver.at("/hook")) == 4
        clock.now = START + timedelta(seconds=122)
        hub.observer.tick()
        components = [r.json()["component"] for r in receiver.at("/hook")]
        assert components == [f"job{i}" for i in range(5)]  # each once, in order


def test_metric_threshold_message_pattern_and_consecutive_failures(
    tmp_path: Path, receiver: Receiver
) -> None:
    hook = f"{receiver.url}/hook"
    config = f"""
observe:
  rules:
    - name: few-rows
      conditions: [{{metric: {{key: rows, operator: lt, value: 100}}}}]
      actions: [{{webhook: {{url: "{hook}", body: "rows {{component}} {{status}}"}}}}]
    - name: disk
      conditions: [{{message: {{level: [ERROR], matches: "disk (full|quota)"}}}}]
      actions: [{{webhook: {{url: "{hook}", body: "disk {{component}} {{status}}"}}}}]
    - name: twice
      conditions: [{{run_state: {{matches: [FAILED], count: 2}}}}]
      actions: [{{webhook: {{url: "{hook}", body: "twice {{component}} {{status}}"}}}}]
"""
    root = observed_project(tmp_path / "p", config)
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        hub = served.hub
        metric = {"event_type": "metric-log", "dataset_key": "orders", "metric_key": "rows"}
        message = {"event_type": "message-log", "server_key": "etl", "log_level": "ERROR"}
        _post(
            client,
            [
                {**metric, "metric_value": 500},
                {**metric, "metric_value": 12},
                {**message, "message": "all good"},
                {**message, "message": "disk quota exceeded on /data"},
                _run("flaky", "r1", "FAILED", START),
            ],
        )
        hub.observer.tick()
        assert sorted(r.body.decode() for r in receiver.requests) == [
            "disk etl alert",
            "rows orders alert",
        ]
        _post(
            client,
            [
                _run("flaky", "r2", "FAILED", START + timedelta(hours=1)),
                {**metric, "metric_value": 150},
            ],
        )
        hub.observer.tick()
        assert [r.body.decode() for r in receiver.requests[2:]] == [
            "twice flaky alert",
            "rows orders resolved",
        ]


def test_a_secret_set_in_the_store_signs_the_webhook_and_is_never_kept(
    tmp_path: Path, receiver: Receiver
) -> None:
    from headgate.facade import Project
    from headgate.security.vault import Vault

    config = f"""
observe:
  rules:
    - name: failures
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions:
        - webhook: {{url: "{receiver.url}/hook", headers: {{X-Token: "${{secret:VAULTED_TOKEN}}"}}}}
"""
    root = observed_project(tmp_path / "p", config)
    with Project.load(root) as project:
        Vault(project.state, project.root).set("VAULTED_TOKEN", "from-the-vault-42", by="test")
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        _post(client, [_run("job", "r1", "FAILED", START)])
        served.hub.observer.tick()
        (hook,) = receiver.at("/hook")
        assert hook.headers["X-Token"] == "from-the-vault-42"
        notices = client.get("/api/v1/alerts/notices").json()
        assert "from-the-vault-42" not in str(notices)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only
def test_email_logs_in_to_the_smtp_server_with_a_secret_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "mail-secret-7")
    with smtp_server(password="mail-secret-7") as box:
        config = f"""
observe:
  rules:
    - name: failures
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions:
        - email:
            to: [oncall@example.com]
            subject: "{{component}} failed"
            smtp: {{host: 127.0.0.1, port: {box.port}, username: alerts,
                    password: "${{secret:SMTP_PASSWORD}}"}}
"""
        root = observed_project(tmp_path / "p", config)
        with observed_hub(root, Clock(START)) as served, served.client() as client:
            _post(client, [_run("job", "r1", "FAILED", START)])
            served.hub.observer.tick()
            assert box.logins == [("alerts", "mail-secret-7")]
            (mail,) = box.messages
            assert mail["Subject"] == "job failed"
            assert "mail-secret-7" not in str(client.get("/api/v1/alerts/notices").json())


def test_a_notice_that_cannot_be_sent_is_tried_again_later_and_its_error_kept(
    tmp_path: Path, receiver: Receiver
) -> None:
    from tests.server.hubs import free_port

    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    config = f"""
observe:
  rules:
    - name: failures
      conditions: [{{run_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: "{down}"}}}}]
"""
    root = observed_project(tmp_path / "p", config)
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        _post(client, [_run("job", "r1", "FAILED", START)])
        served.hub.observer.tick()
        served.hub.observer.tick()  # too soon to try again
        (notice,) = client.get("/api/v1/alerts/notices").json()["items"]
        assert (notice["state"], notice["attempts"]) == ("pending", 1)
        assert "ConnectError" in notice["error"]
        clock.now = START + timedelta(seconds=31)
        served.hub.observer.tick()
        (notice,) = client.get("/api/v1/alerts/notices").json()["items"]
        assert notice["attempts"] == 2
        for minutes in (2, 4, 8):
            clock.now = START + timedelta(minutes=minutes)
            served.hub.observer.tick()
        (notice,) = client.get("/api/v1/alerts/notices").json()["items"]
        assert (notice["state"], notice["attempts"]) == ("failed", 5)


def test_task_state_test_status_and_all_of_two_conditions(
    tmp_path: Path, receiver: Receiver
) -> None:
    hook = f"{receiver.url}/hook"
    config = f"""
observe:
  rules:
    - name: task
      conditions: [{{task_state: {{matches: [FAILED]}}}}]
      actions: [{{webhook: {{url: "{hook}", body: "task {{component}} {{status}}"}}}}]
    - name: tests
      conditions: [{{test_status: {{matches: [FAILED, WARNING]}}}}]
      actions: [{{webhook: {{url: "{hook}", body: "tests {{component}} {{status}}"}}}}]
    - name: both
      when: all
      conditions:
        - run_state: {{matches: [COMPLETED_WITH_WARNINGS]}}
        - metric: {{key: rejected, operator: gt, value: 10}}
      actions: [{{webhook: {{url: "{hook}", body: "both {{component}} {{status}}"}}}}]
"""
    root = observed_project(tmp_path / "p", config)
    clock = Clock(START)
    with observed_hub(root, clock) as served, served.client() as client:
        tick = served.hub.observer.tick
        run = {"event_type": "run-status", "pipeline_key": "load", "run_key": "r1"}
        tests = {"event_type": "test-outcomes", "dataset_key": "orders"}
        metric = {"event_type": "metric-log", "pipeline_key": "load", "metric_key": "rejected"}
        _post(
            client,
            [
                {**run, "status": "RUNNING"},
                {**run, "task_key": "extract", "status": "FAILED"},
                {**tests, "test_outcomes": [{"name": "fresh", "status": "WARNING"}]},
                {**metric, "metric_value": 50},
            ],
        )
        tick()
        said = [r.body.decode() for r in receiver.at("/hook")]
        assert sorted(said) == ["task load alert", "tests orders alert"]  # `both`: half true
        _post(
            client,
            [
                {**run, "status": "COMPLETED_WITH_WARNINGS"},
                {**tests, "test_outcomes": [{"name": "fresh", "status": "PASSED"}]},
            ],
        )
        tick()
        said = [r.body.decode() for r in receiver.at("/hook")][2:]
        assert sorted(said) == ["both load alert", "tests orders resolved"]


def test_a_json_body_stays_valid_json_whatever_the_message_says(
    tmp_path: Path, receiver: Receiver
) -> None:
    hook = f"{receiver.url}/hook"
    config = f"""
observe:
  rules:
    - name: errors
      conditions: [{{message: {{level: [ERROR]}}}}]
      actions:
        - webhook:
            url: "{hook}"
            body: '{{{{"said": "{{message}}", "times": {{occurrences}}}}}}'
"""
    root = observed_project(tmp_path / "p", config)
    said = 'column "amount" is null in 3 rows\n  see C:\\data\\orders.csv'
    with observed_hub(root, Clock(START)) as served, served.client() as client:
        event = {"event_type": "message-log", "server_key": "etl", "log_level": "ERROR"}
        _post(client, [{**event, "message": said}])
        served.hub.observer.tick()
        (request,) = receiver.at("/hook")
        body = request.json()  # quotes, a line break and backslashes, all escaped
        assert said in body["said"] and body["times"] == 1
