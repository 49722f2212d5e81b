"""Selecting models: by name, glob, tag, path, with upstream or downstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from headgate import Project
from headgate.errors import HeadgateError
from tests.support import write_project

FILES = {
    "models/staging/orders.sql": "select 1 as id",
    "models/staging/customers.sql": "select 1 as id",
    "models/marts/revenue.sql": "/* headgate:\ntags: [finance]\n*/\nselect * from staging.orders",
    "models/marts/ltv.sql": "select * from staging.customers join marts.revenue using (id)",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project.load(write_project(tmp_path, FILES))


def test_name_tag_path_and_graph_operators(project: Project) -> None:
    assert project.select("marts.revenue") == {"marts.revenue"}
    assert project.select("tag:finance") == {"marts.revenue"}
    assert project.select("path:models/staging") == {"staging.orders", "staging.customers"}
    assert project.select("staging.*") == {"staging.orders", "staging.customers"}
    assert project.select("+marts.revenue") == {"marts.revenue", "staging.orders"}
    assert project.select("staging.orders+") == {"staging.orders", "marts.revenue", "marts.ltv"}
    assert project.select("marts.ltv, tag:finance") == {"marts.ltv", "marts.revenue"}


def test_selection_matching_nothing_is_an_error(project: Project) -> None:
    with pytest.raises(HeadgateError, match="matches nothing"):
        project.select("marts.nothing")
