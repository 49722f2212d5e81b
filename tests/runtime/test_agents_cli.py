"""`headgate agent`: mistakes in its options are named before it takes any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import cli, write_project


def test_labels_that_are_not_key_value_pairs_are_named(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"models/one.sql": "select 1 as x"})
    done = cli(root, "agent", "--hub", "http://127.0.0.1:9", "--labels", "site=eu,prod")
    assert done.returncode != 0
    assert "'prod' is not key=value" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_an_agent_without_a_hub_says_how_to_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADGATE_HUB", raising=False)
    root = write_project(tmp_path, {"models/one.sql": "select 1 as x"})
    done = cli(root, "agent", "--labels", "site=eu")
    assert done.returncode != 0
    assert "--hub URL or set HEADGATE_HUB" in done.stdout + done.stderr
