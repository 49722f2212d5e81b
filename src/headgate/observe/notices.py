"""Notices: what rules' actions send, queued in the store and sent at each sender's pace.

A notice is queued when a rule's alert opens, reminds or resolves, and sent by the hub's
observer: a webhook (method, headers and a templated body), a Slack-compatible webhook
(blocks), or an e-mail over SMTP. Each sender (a URL, an SMTP server) sends at most
``limit`` notices per ``per`` seconds; the rest wait their turn, in order. A notice that
could not be sent is tried again after 30 s, 1.5, 3.5 and 7.5 min. Credentials
come from ``${secret:NAME}``; no secret's value is kept in the store or shown in an error.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import func, select, update

from headgate.observe import alerts as alerting
from headgate.observe.config import Action, ObserveConfig, RuleConfig
from headgate.observe.ingest import database
from headgate.observe.queries import component
from headgate.observe.rules import Notice
from headgate.state import tables as t

log = logging.getLogger("headgate.observe")
MAX_ATTEMPTS = 5
RETRY_SECONDS = 30
TIMEOUT_SECONDS = 10.0
HEADLINES = {"alert": "ALERT", "reminder": "STILL FAILING", "resolved": "RESOLVED"}


def sender_of(action: Action) -> str:
    """The destination a rate limit counts by, as written in headgate.yml (no secret)."""
    if action.webhook is not None:
        return f"webhook:{action.webhook.url}"[:400]
    if action.slack is not None:
        return f"slack:{action.slack.url}"[:400]
    assert action.email is not None
    return f"email:{action.email.smtp.host}:{action.email.smtp.port}"[:400]


def queue(store: Any, notices: list[Notice], at: datetime) -> int:
    """Queue a notice per action of each rule; how many were queued."""
    rows = [
        {
            "alert_id": notice.alert_id,
            "rule": notice.rule.name,
            "action": index,
            "kind": notice.kind,
            "sender": sender_of(action),
            "state": "pending",
            "attempts": 0,
            "error": None,
            "created_at": at,
            "sent_at": None,
        }
        for notice in notices
        for index, action in enumerate(notice.rule.actions)
    ]
    if rows:
        with database(store).write("queueing notices") as conn:
            conn.execute(t.alert_notices.insert(), rows)
    return len(rows)


@dataclass
class NoticeRecord:
    id: int
    alert_id: int
    rule: str
    action: int
    kind: str
    sender: str
    state: str
    attempts: int
    error: str | None
    created_at: datetime
    sent_at: datetime | None


def notices(store: Any, *, alert_id: int | None = None, limit: int = 100) -> list[NoticeRecord]:
    query = select(t.alert_notices)
    if alert_id is not None:
        query = query.where(t.alert_notices.c.alert_id == alert_id)
    with database(store).read() as conn:
        rows = conn.execute(query.order_by(t.alert_notices.c.id.desc()).limit(limit)).all()
    return [NoticeRecord(**r._mapping) for r in rows]


class Dispatcher:
    """Sends pending notices, oldest first, within each sender's rate."""

    def __init__(self, store: Any, resolve: Any, mask: Any) -> None:
        self.store = store
        self.resolve = resolve  # "${secret:X}" text -> the value
        self.mask = mask  # text -> text with every secret value hidden

    def dispatch(self, config: ObserveConfig, at: datetime) -> int:
        """Send what may be sent now; how many were sent."""
        db = database(self.store)
        with db.read() as conn:
            pending = conn.execute(
                select(t.alert_notices)
                .where(t.alert_notices.c.state == "pending")
                .order_by(t.alert_notices.c.id)
                .limit(200)
            ).all()
        rules = {r.name: r for r in config.rules}
        sent, blocked = 0, set()
        for row in pending:
            if row.sender in blocked:
                continue
            if row.attempts and at < row.created_at + retry_after(row.attempts):
                blocked.add(row.sender)  # its sender failed lately: try again later, in order
                continue
            rule = rules.get(row.rule)
            if rule is None or row.action >= len(rule.actions):
                self._finish(row.id, "failed", f"rule {row.rule} is no longer declared", row)
                continue
            action = rule.actions[row.action]
            if self._used(row.sender, action, at) >= action.limit:
                blocked.add(row.sender)  # later notices of this sender wait too: order kept
                continue
            try:
                self._send(config, rule, action, row, at)
            except Exception as exc:  # any failure to deliver is recorded, never raised
                error = self.mask(f"{type(exc).__name__}: {exc}")[:2000]
                log.warning("notice %s (%s) not sent: %s", row.id, row.sender, error)
                state = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
                self._finish(row.id, state, error, row)
                blocked.add(row.sender)
                continue
            self._finish(row.id, "sent", None, row, at=at)
            sent += 1
        return sent

    def _used(self, sender: str, action: Action, at: datetime) -> int:
        since = at - timedelta(seconds=action.per)
        with database(self.store).read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.alert_notices)
                    .where(
                        t.alert_notices.c.sender == sender,
                        t.alert_notices.c.state == "sent",
                        t.alert_notices.c.sent_at > since,
                    )
                ).scalar()
                or 0
            )

    def _finish(
        self, notice_id: int, state: str, error: str | None, row: Any, *, at: datetime | None = None
    ) -> None:
        with database(self.store).write("recording a notice") as conn:
            conn.execute(
                update(t.alert_notices)
                .where(t.alert_notices.c.id == notice_id)
                .values(
                    state=state,
                    error=error,
                    attempts=row.attempts + 1,
                    sent_at=at,
                )
            )

    def _send(
        self, config: ObserveConfig, rule: RuleConfig, action: Action, row: Any, at: datetime
    ) -> None:
        data = self.data_points(config, rule, row)
        if action.webhook is not None:
            hook = action.webhook
            headers = {k: self.resolve(render(v, data)) for k, v in hook.headers.items()}
            headers.setdefault("Content-Type", "application/json")
            in_json = "json" in _header(headers, "Content-Type").lower()
            body = (
                render(hook.body, data, json_text=in_json)
                if hook.body
                else json.dumps(data, default=str)
            )
            _http(hook.method, self.resolve(hook.url), headers, self.resolve(body))
        elif action.slack is not None:
            text = render(action.slack.text, data) if action.slack.text else headline(data)
            _http("POST", self.resolve(action.slack.url), {}, json.dumps(slack_blocks(text, data)))
        else:
            self._email(action, data)

    def _email(self, action: Action, data: dict[str, Any]) -> None:
        email = action.email
        assert email is not None
        recipients = list(email.to)
        if email.to_owner and data.get("owner_email"):
            recipients.append(str(data["owner_email"]))
        recipients = list(dict.fromkeys(recipients))
        if not recipients:
            raise ValueError("no recipient: give `to` or an owner with an address in `owners`")
        message = EmailMessage()
        message["From"] = email.sender
        message["To"] = ", ".join(recipients)
        message["Subject"] = render(email.subject, data) if email.subject else headline(data)
        message.set_content(plain_text(data))
        smtp = email.smtp
        context = ssl.create_default_context()
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS, context=context)
            if smtp.ssl
            else smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_SECONDS)
        )
        with client:
            if smtp.starttls:
                client.starttls(context=context)
            if smtp.username:
                client.login(self.resolve(smtp.username), self.resolve(smtp.password or ""))
            client.send_message(message)

    def data_points(self, config: ObserveConfig, rule: RuleConfig, row: Any) -> dict[str, Any]:
        """What a template may use: {component}, {message}, {link}, {status}, {owner}..."""
        found = alerting.alert(self.store, row.alert_id)
        assert found is not None
        about = component(self.store, found.component)
        grouped = alerting.grouped_under(self.store, found.id)
        owner = about.owner if about else None
        owner_email = config.owners.get(owner or "", owner if owner and "@" in owner else None)
        return {
            "alert_id": found.id,
            "status": row.kind,
            "rule": rule.name,
            "journey": rule.journey or "",
            "component": found.component,
            "component_name": (about.name if about else None) or found.component,
            "tool": (about.tool if about else None) or "",
            "owner": owner or "",
            "owner_email": owner_email or "",
            "level": found.level,
            "message": found.message,
            "occurrences": found.occurrences,
            "run_key": found.run_key or "",
            "opened_at": found.opened_at.isoformat(),
            "resolved_at": found.resolved_at.isoformat() if found.resolved_at else "",
            "grouped": ", ".join(sorted({g.component for g in grouped})),
            "link": f"{config.hub_url.rstrip('/')}/alerts/{found.id}",
        }


def retry_after(attempts: int) -> timedelta:
    """How long after it was queued a notice that failed ``attempts`` times is tried
    again: 30 s, 1.5 min, 3.5 min, 7.5 min (then it has failed for good)."""
    return timedelta(seconds=RETRY_SECONDS * (2**attempts - 1))


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str | None, data: dict[str, Any], *, json_text: bool = False) -> str:
    """``template`` with ``{name}`` replaced by the data point (unknown names kept).

    ``json_text``: the template is a JSON body, so text is escaped to stay inside its
    quotes (a message with a quote or a line break still makes valid JSON).

    >>> body = render('{{"said": "{message}", "n": {occurrences}}}',
    ...               {"message": 'a "b"', "occurrences": 2}, json_text=True)
    >>> json.loads(body)
    {'said': 'a "b"', 'n': 2}
    """
    if not template:
        return ""
    if json_text:
        data = {k: json.dumps(v)[1:-1] if isinstance(v, str) else v for k, v in data.items()}
    try:
        return template.format_map(_Blank(data))
    except (ValueError, IndexError, AttributeError):
        return template


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def headline(data: dict[str, Any]) -> str:
    return f"[headgate] {HEADLINES.get(str(data['status']), 'ALERT')}: {data['message']}"


def plain_text(data: dict[str, Any]) -> str:
    lines = [headline(data), ""]
    lines.append(f"Component: {data['component_name']} ({data['component']})")
    if data["owner"]:
        lines.append(f"Owner: {data['owner']}")
    if data["grouped"]:
        lines.append(f"Also affected downstream: {data['grouped']}")
    lines.append(f"Occurrences: {data['occurrences']} since {data['opened_at']}")
    if data["resolved_at"]:
        lines.append(f"Resolved at: {data['resolved_at']}")
    lines.append(f"Details: {data['link']}")
    return "\n".join(lines) + "\n"


def slack_blocks(text: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible message: a fallback text and blocks."""
    detail = [f"*{data['component_name']}*", data["message"]]
    if data["grouped"]:
        detail.append(f"Also affected downstream: {data['grouped']}")
    context = [f"<{data['link']}|Open in headgate>", f"{data['occurrences']} occurrence(s)"]
    if data["owner"]:
        context.append(f"owner: {data['owner']}")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(detail)}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " · ".join(context)}],
            },
        ],
    }


def _http(method: str, url: str, headers: dict[str, str], body: str) -> None:
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        answer = client.request(method, url, headers=headers, content=body.encode())
    if answer.status_code >= 300:
        raise RuntimeError(f"{method} answered {answer.status_code}: {answer.text[:200]}")
