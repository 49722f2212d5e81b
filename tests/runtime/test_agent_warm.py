"""An agent loads its checkout before work comes, and a checkout that cannot load then
does not stop it: its first task says what is wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from headgate.runtime.agent import Agent, StoreTransport
from headgate.state.store import StateStore
from tests.runtime.test_agents import FILES, submit
from tests.support import write_project


def test_a_warmed_agent_builds_with_the_checkout_it_loaded_before_work(tmp_path: Path) -> None:
    root = write_project(tmp_path, FILES)
    with StateStore.open(None, project_dir=root) as store:
        agent = Agent("eu-1", root, StoreTransport(store), labels={"site": "eu-west"})
        agent.warm()
        loaded = agent._local.site[1]
        run_id = submit(root, {"site": "eu-west"})
        assert agent.work_once() == "built"
        assert agent._local.site[1] is loaded  # not loaded again for the first task
        assert store.queue_states(run_id)["raw.numbers"] == "done"
        agent.close()


def test_an_agent_whose_warehouse_is_down_at_start_keeps_going(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = "name: down\nengine: {type: postgres, url: 'postgresql://nobody@127.0.0.1:1/none'}\n"
    root = write_project(tmp_path, {"models/raw/one.sql": "select 1 as n"}, config=config)
    with StateStore.open(None, project_dir=root) as store:
        agent = Agent("eu-1", root, StoreTransport(store))
        with caplog.at_level(logging.WARNING):
            agent.warm()  # no exception: the agent goes on to take work
        assert "the checkout was not loaded before work came" in caplog.text
        assert getattr(agent._local, "site", None) is None
