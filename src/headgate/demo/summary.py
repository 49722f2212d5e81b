"""What ``headgate demo`` wrote: row counts and the data defects planted on purpose.

The defects are part of the demo's contract. The profiler and the check suggester are
expected to find each of them, so every defect names the table and column it sits in and
exactly how many rows carry it; the demo's README and the CLI print the same list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoDefect:
    """One kind of bad data planted in one raw table column, with the rows that carry it."""

    table: str
    column: str | None
    kind: str
    rows: int
    description: str


@dataclass
class DemoSummary:
    """Where the demo project was written and how many raw rows each source table holds."""

    path: Path
    orders: int
    customers: int
    products: int
    order_items: int
    payments: int
    defects: list[DemoDefect] = field(default_factory=list)
