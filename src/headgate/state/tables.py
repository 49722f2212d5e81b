"""The metadata store's tables, defined once for every query.

The Alembic migrations create exactly these tables (a test compares the two). Tables carry
no schema: on PostgreSQL the store maps them into its configured schema with SQLAlchemy's
``schema_translate_map``, so one definition serves any schema and SQLite alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from headgate.state.sqltypes import UTCDateTime, json_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(200), nullable=False),
    Column("command", String(100), nullable=False),
    Column("selection", Text),
    Column("username", String(200)),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("git_commit", String(64)),
    Column("status", String(20), nullable=False),
    Column("error", Text),
    Column("published", Boolean, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("plan", json_type()),  # the run's plan as data (its tasks hold their specs)
    Column("placement", json_type()),  # a run for agents: where its tasks go (agentruns.py)
    Index(None, "environment", "id"),
    Index(None, "status"),
    # Run ids are shown to users: never hand out the id of a deleted run again.
    sqlite_autoincrement=True,
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(400), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("physical_table", String(400)),
    Column("rows", BigInteger),
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("seconds", Float),
    Column("error", Text),
    Column("detail", json_type(), nullable=False),
    Column("spec", json_type()),  # what the task does: runtime/specs.py
    Column("attempts", Integer),
    UniqueConstraint("run_id", "name"),
)

physical_tables = Table(
    "physical_tables",
    metadata,
    Column("name", String(400), primary_key=True),
    Column("model", String(400), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("rows", BigInteger),
    Column("data_version", Integer, nullable=False),
    Column("inputs", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("run_id", Integer),
    Column("audit_status", String(10)),  # "passed" | "failed" | None (no checks ran)
    Column("audit_hash", String(64)),  # the checks the verdict was reached with
    Column("segments", json_type()),  # a version's segments: what its view reads
)

environments = Table(
    "environments",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200)),
    Column("from_environment", String(200)),
    Column("updated_at", UTCDateTime),
)

env_models = Table(
    "env_models",
    metadata,
    Column(
        "environment",
        String(200),
        ForeignKey("environments.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("model", String(400), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("physical_table", String(400), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("run_id", Integer),
    # "Which environments still point at this physical table?" decides what may be dropped.
    Index(None, "physical_table"),
)

intervals = Table(
    "intervals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("physical_table", String(400), nullable=False),
    Column("start_at", UTCDateTime, nullable=False),
    Column("end_at", UTCDateTime, nullable=False),
    Index(None, "physical_table", "start_at"),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(255), nullable=False),
    Column("description", Text),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

check_results = Table(
    "check_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer),
    Column("model", String(400), nullable=False),
    Column("check_name", String(400), nullable=False),
    Column("check_type", String(50), nullable=False),
    Column("column", String(400)),
    Column("severity", String(10), nullable=False),
    Column("status", String(10), nullable=False),
    Column("failing_rows", BigInteger),
    Column("total_rows", BigInteger),
    Column("message", Text, nullable=False),
    Column("sample", json_type(), nullable=False),
    Column("sql", Text),
    Column("physical_table", String(400)),
    Column("created_at", UTCDateTime, nullable=False),
    # A run's results, a model's history, one check's latest: the three ways they are read.
    Index(None, "run_id"),
    Index(None, "model", "id"),
    Index(None, "check_name", "id"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(400), nullable=False),
    Column("physical_table", String(400), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("profile", json_type(), nullable=False),
    Column("rows", BigInteger),
    Index(None, "model", "id"),
)

model_metrics = Table(
    "model_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer),
    Column("model", String(400), nullable=False),
    Column("physical_table", String(400)),
    Column("metric", String(200), nullable=False),
    Column("value", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "model", "metric", "id"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # run | deploy | rollback | create
    Column("from_environment", String(200)),
    Column("username", String(200)),
    Column("git_commit", String(64)),
    Column("run_id", Integer),
    Column("rolled_back_to", Integer),
    Column("pointers", json_type(), nullable=False),  # model -> [fingerprint, physical table]
    Column("plan", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # "pending" from just before the warehouse swaps the views until the store has the new
    # pointers; NULL once complete. A pending one the warehouse's ledger holds happened.
    Column("state", String(10)),
    # an environment's history, newest first; retention scans by time
    Index(None, "environment", "id"),
    Index(None, "created_at"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("model", String(400), nullable=False),
    Column("query", Text),  # normalized SQL (or the Python model's source digest)
    Column("columns", json_type(), nullable=False),  # [[name, type], ...] of the built table
    Column("physical_table", String(400)),  # set when this version reuses an older one's table
    Column("created_at", UTCDateTime, nullable=False),
)

source_cursors = Table(
    "source_cursors",
    metadata,
    Column("physical_table", String(400), primary_key=True),
    Column(
        "cursor", json_type(), nullable=False
    ),  # {"value": ..., "type": "int|decimal|datetime|date|str"}
    Column("updated_at", UTCDateTime, nullable=False),
)

loaded_files = Table(
    "loaded_files",
    metadata,
    Column("physical_table", String(400), primary_key=True),
    Column("content_hash", String(64), primary_key=True),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
)


schedule_slots = Table(
    "schedule_slots",
    metadata,
    # each slot of a schedule runs once, whichever scheduler replica sees it first
    Column("schedule", String(200), primary_key=True),
    Column("slot_at", UTCDateTime, primary_key=True),
    Column("state", String(10), nullable=False),  # queued | started | skipped
    Column("run_id", Integer),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
)

schedule_pauses = Table(
    "schedule_pauses",
    metadata,
    Column("schedule", String(200), primary_key=True),
    Column("paused_by", String(200)),
    Column("paused_at", UTCDateTime, nullable=False),
)

task_queue = Table(
    "task_queue",
    metadata,
    # a run's tasks handed to agents: one lease at a time, each with a fencing token
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("task", String(400), nullable=False),
    Column("labels", json_type(), nullable=False),  # what an agent must carry to take it
    Column("depends_on", json_type(), nullable=False),  # tasks of the run done before it
    # waiting | queued | leased | done | failed | cancelled
    Column("state", String(10), nullable=False),
    Column("agent", String(200)),
    Column("fence", Integer, nullable=False),  # grows at every lease; a stale result is refused
    Column("lease_until", UTCDateTime),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("cancel", Boolean, nullable=False),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("run_id", "task"),
    Index(None, "state", "id"),
)

secrets = Table(
    "secrets",
    metadata,
    # values encrypted with the project's key (security/vault.py); never stored in clear
    Column("environment", String(200), primary_key=True),  # "*": every environment
    Column("name", String(200), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("updated_by", String(200)),
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    # append-only; each entry's hash covers the previous entry's (security/audit.py)
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200)),
    Column("address", String(200)),
    Column("action", String(100), nullable=False),
    Column("environment", String(200)),
    Column("target", String(400)),
    Column("detail", json_type(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "action"),
    Index(None, "environment"),
    sqlite_autoincrement=True,
)

# Users, web sessions, API tokens and role grants (security/; migration 0013).

users = Table(
    "users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("password_hash", Text),  # argon2id; NULL for a user who signs in only by OIDC
    Column("source", String(10), nullable=False),  # local | oidc
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200)),
    Column("password_changed_at", UTCDateTime),
)

role_grants = Table(
    "role_grants",
    metadata,
    # a user's role in the environments a pattern names ("*": every one, "dev-*": a family)
    Column("username", String(200), primary_key=True),
    Column("role", String(50), primary_key=True),
    Column("environment", String(200), primary_key=True),
    Column("granted_by", String(200)),
    Column("granted_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    # shown once when created; kept as a SHA-256 of the whole token, found by its prefix
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(32), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("roles", json_type(), nullable=False),
    Column("environments", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    UniqueConstraint("prefix"),
    sqlite_autoincrement=True,
)

web_sessions = Table(
    "web_sessions",
    metadata,
    # a signed-in browser: the cookie carries the id, the row keeps its SHA-256
    Column("id_hash", String(64), primary_key=True),
    Column("username", String(200), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("address", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Index(None, "username"),
)

login_failures = Table(
    "login_failures",
    metadata,
    # failed sign-ins per account ("user:ann") and per address ("address:10.0.0.7")
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
)

# Agents and the output of tasks and external steps (runtime/agent.py; migration 0014).

agents = Table(
    "agents",
    metadata,
    # processes in a site that pull tasks from the hub; health comes from when each was seen
    Column("name", String(200), primary_key=True),
    Column("labels", json_type(), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("version", String(100)),
    Column("host", String(255)),
    Column("every_seconds", Float, nullable=False),  # how often it promised to call
    Column("registered_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

task_output = Table(
    "task_output",
    metadata,
    # lines a task printed while it ran (streamed back by its agent), kept with the run
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("task", String(400), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("source", String(200)),  # the agent (or step runner) that printed it
    Column("at", UTCDateTime, nullable=False),
    Column("line", Text, nullable=False),
    Index(None, "run_id", "task", "id"),
    sqlite_autoincrement=True,
)

# Journeys, components, events, expected schedules and alerts (observe/; migration 0015).

components = Table(
    "components",
    metadata,
    # a thing a journey passes through: a headgate pipeline or model, a batch job, a
    # dataset, a server, a stream; declared in headgate.yml or first seen in an event
    Column("key", String(400), primary_key=True),
    Column("name", String(400)),
    Column("kind", String(20), nullable=False),
    Column("tool", String(200)),
    Column("owner", String(200)),
    Column("source", String(10), nullable=False),  # config | events | headgate
    Column("status", String(30)),  # the latest run's status, or the latest operation
    Column("status_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
)

journeys = Table(
    "journeys",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text),
    Column("source", String(10), nullable=False),  # config | events
    Column("created_at", UTCDateTime, nullable=False),
)

journey_components = Table(
    "journey_components",
    metadata,
    Column("journey", String(200), primary_key=True),
    Column("component", String(400), primary_key=True),
    Index(None, "component"),
)

journey_edges = Table(
    "journey_edges",
    metadata,
    Column("journey", String(200), primary_key=True),
    Column("upstream", String(400), primary_key=True),
    Column("downstream", String(400), primary_key=True),
)

events = Table(
    "events",
    metadata,
    # every event as received (the body as posted); seq orders them for the rules
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("component", String(400), nullable=False),
    Column("run_key", String(400)),
    Column("task_key", String(400)),
    Column("event_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(20), nullable=False),  # api | headgate | openlineage
    Column("body", json_type(), nullable=False),
    UniqueConstraint("event_id"),
    Index(None, "component", "seq"),
    sqlite_autoincrement=True,
)

component_runs = Table(
    "component_runs",
    metadata,
    # one run of a component as its events tell it, or one it was expected to have
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component", String(400), nullable=False),
    Column("run_key", String(400), nullable=False),
    Column("status", String(30), nullable=False),
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("expected_start", UTCDateTime),
    Column("expected_end", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("component", "run_key"),
    Index(None, "component", "id"),
)

component_tasks = Table(
    "component_tasks",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("task_key", String(400), primary_key=True),
    Column("status", String(30), nullable=False),
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
)

journey_instances = Table(
    "journey_instances",
    metadata,
    # one pass through a journey: opened by its first event, closed when every
    # component's run has ended
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("journey", String(200), nullable=False),
    Column("status", String(30), nullable=False),  # running | completed | failed | warnings
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("runs", json_type(), nullable=False),  # component -> run key
    Index(None, "journey", "id"),
)

expected_slots = Table(
    "expected_slots",
    metadata,
    # each slot of a component's expected schedule, judged once
    Column("component", String(400), primary_key=True),
    Column("expectation", String(10), primary_key=True),  # start | end | arrival
    Column("slot_at", UTCDateTime, primary_key=True),
    Column("state", String(20), nullable=False),  # late_start | missing_run | late_end | ...
    Column("updated_at", UTCDateTime, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    # a problem with a component, open until it recovers; grouped under its root cause
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("component", String(400), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("level", String(10), nullable=False),  # error | warning
    Column("status", String(10), nullable=False),  # open | resolved
    Column("root_id", Integer),  # the upstream alert that caused it, if any
    Column("rule", String(200)),  # the rule that raised it (rule alerts only)
    Column("run_key", String(400)),
    Column("message", Text, nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index(None, "component", "status"),
    Index(None, "status", "id"),
)

alert_notices = Table(
    "alert_notices",
    metadata,
    # what a rule's action sends: queued here, sent in order at each sender's rate
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False),
    Column("rule", String(200), nullable=False),
    Column("action", Integer, nullable=False),  # the action's place in the rule
    Column("kind", String(10), nullable=False),  # alert | reminder | resolved
    Column("sender", String(400), nullable=False),  # the destination rate limits count by
    Column("state", String(10), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index(None, "state", "id"),
    Index(None, "sender", "sent_at"),
)

rule_states = Table(
    "rule_states",
    metadata,
    # whether a rule fires for a component now, and when it last told anyone
    Column("rule", String(200), primary_key=True),
    Column("component", String(400), primary_key=True),
    Column("alert_id", Integer),
    Column("firing", Boolean, nullable=False),
    Column("conditions", json_type(), nullable=False),  # each condition's latest truth
    Column("notified_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)

observe_cursors = Table(
    "observe_cursors",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

# OpenLineage runs and datasets, monitors' chart settings (observe/; migration 0016).

lineage_events = Table(
    "lineage_events",
    metadata,
    # every OpenLineage event as received, for /events/lineage and for replaying
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("event_type", String(10), nullable=False),
    Column("event_time", UTCDateTime, nullable=False),
    Column("job_namespace", String(400), nullable=False),
    Column("job_name", String(400), nullable=False),
    Column("producer", Text),
    Column("event", json_type(), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index(None, "run_id"),
    Index(None, "event_time"),
)

lineage_jobs = Table(
    "lineage_jobs",
    metadata,
    Column("namespace", String(400), primary_key=True),
    Column("name", String(400), primary_key=True),
    Column("type", String(10), nullable=False),  # BATCH | STREAM | SERVICE
    Column("facets", json_type(), nullable=False),  # the latest of each facet
    Column("latest_run_id", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

lineage_datasets = Table(
    "lineage_datasets",
    metadata,
    Column("namespace", String(400), primary_key=True),
    Column("name", String(400), primary_key=True),
    Column("facets", json_type(), nullable=False),  # the latest of each facet
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_modified_at", UTCDateTime),  # when a run that wrote it completed
)

lineage_runs = Table(
    "lineage_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("job_namespace", String(400), nullable=False),
    Column("job_name", String(400), nullable=False),
    Column("state", String(10), nullable=False),  # NEW | RUNNING | COMPLETED | FAILED | ABORTED
    Column("started_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("nominal_start", UTCDateTime),
    Column("nominal_end", UTCDateTime),
    Column("parent_run_id", String(64)),
    Column("facets", json_type(), nullable=False),
    Column("inputs", json_type(), nullable=False),  # [[namespace, name], ...]
    Column("outputs", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "job_namespace", "job_name", "created_at"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    # a job reads (direction "in") or writes ("out") a dataset, as its latest run said
    Column("job_namespace", String(400), primary_key=True),
    Column("job_name", String(400), primary_key=True),
    Column("dataset_namespace", String(400), primary_key=True),
    Column("dataset_name", String(400), primary_key=True),
    Column("direction", String(3), primary_key=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "dataset_namespace", "dataset_name"),
)

monitor_charts = Table(
    "monitor_charts",
    metadata,
    # the chart a monitor judges by when its config names none, picked once from history
    Column("model", String(400), primary_key=True),
    Column("metric", String(400), primary_key=True),
    Column("chart", String(20), nullable=False),  # western_electric | ewma | cusum | weekly
    Column("reason", Text, nullable=False),
    Column("chosen_at", UTCDateTime, nullable=False),
)
