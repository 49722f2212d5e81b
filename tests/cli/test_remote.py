"""``headgate query --hub`` prints a large answer batch by batch as it arrives: the same
output as a local query, with the CLI's memory bounded by a batch, not by the answer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.hubs import make_project, serving
from tests.support import cli

BATCH_ROWS = 131_072  # the hub's record batch (server/warehouse.py)
PADDING = "x" * 100


def rows_sql(n: int, padding: str = PADDING) -> str:
    return f"select i, 'row ' || i || ' {padding}' as label from range({n}) t(i) order by i"


# the CLI in a process of its own, printing its peak memory (KiB) to stderr as it exits
# (VmHWM: ru_maxrss would carry the forking test process's peak across exec)
PEAK = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('PEAK', re.search(r'VmHWM:\\s+(\\d+)', status).group(1), file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "runpy.run_module('headgate.cli.main', run_name='__main__')\n"
)


SEVERAL = rows_sql(BATCH_ROWS * 2 + 5)  # three batches
FORMATS = (("--csv",), ("--json",), ())


@dataclass
class Hub:
    project: Path
    remote: list[str]  # --hub URL --token TOKEN
    local: dict[tuple[str, ...], str]  # SEVERAL's output, by format, queried without the hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    project = make_project(tmp_path_factory.mktemp("remote") / "shop")
    assert cli(project, "run").returncode == 0
    local = {flags: cli(project, "query", SEVERAL, *flags, check=True).stdout for flags in FORMATS}
    with serving(project) as served:  # the hub holds the warehouse from here on
        served.hub.start_flight("127.0.0.1", 0)
        yield Hub(project, ["--hub", served.url, "--token", served.token], local)


def query_to_file(project: Path, remote: list[str], sql: str, out: Path, *flags: str) -> int:
    """Exit code and peak memory (KiB) of ``headgate query`` writing its answer to ``out``."""
    with out.open("w") as sink:
        done = subprocess.run(
            [sys.executable, "-c", PEAK, "-p", str(project), *remote, "query", sql, *flags],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return int(done.stderr.split("PEAK")[-1])


def test_an_answer_of_several_batches_prints_as_a_local_query_does(hub: Hub) -> None:
    for flags in FORMATS:
        there = cli(hub.project, *hub.remote, "query", SEVERAL, *flags)
        assert (there.returncode, there.stderr) == (0, "")
        assert there.stdout == hub.local[flags], flags
    assert f"{BATCH_ROWS * 2 + 5:,} row(s) (showing 100)" in hub.local[()]
    flight = cli(hub.project, *hub.remote, "query", SEVERAL, "--json", "--flight")
    assert flight.stdout == hub.local[("--json",)]


@pytest.mark.parametrize("flags", [["--csv"], ["--csv", "--flight"]])
def test_a_big_answer_does_not_sit_whole_in_the_cli(
    hub: Hub, tmp_path: Path, flags: list[str]
) -> None:
    project, remote = hub.project, hub.remote
    big_rows = BATCH_ROWS * 12  # narrow rows: as Python values they are most of the cost
    small = query_to_file(project, remote, rows_sql(BATCH_ROWS * 2, ""), tmp_path / "s", *flags)
    big = query_to_file(project, remote, rows_sql(big_rows, ""), tmp_path / "big.csv", *flags)
    with (tmp_path / "big.csv").open() as printed:
        lines = sum(1 for _ in printed)
    assert lines == big_rows + 1  # the header, then every row
    size_mib = (tmp_path / "big.csv").stat().st_size / 2**20
    grown_mib = (big - small) / 1024
    # read whole, the answer's 1.5 million rows would sit in memory as Python values
    # (several times the CSV's size); printed as it arrives, the six times bigger answer
    # takes about the memory of the small one
    assert grown_mib < size_mib, f"{grown_mib:.0f} MiB more for a {size_mib:.0f} MiB answer"
