"""Queries a hub process answered (POST /api/v1/query and Arrow Flight), for ``/metrics``.

Unlike the families read from the store (observe/metrics.py), these are counted in the
hub's memory: a query leaves no record in the store. Each hub reports its own, so
Prometheus sums the replicas, and a restarted hub's counters start again at zero, which
Prometheus' ``rate`` and ``increase`` take as a reset. Bytes are the Arrow bytes of the
result's record batches, the same measure for both protocols (what goes on the wire
differs: CSV is longer, JSON is read whole).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    import pyarrow as pa

PROTOCOLS = ("http", "flight")
FAMILIES = {
    "requests": "Queries asked for, by protocol (http: POST/GET /api/v1/query; flight: DoGet).",
    "errors": "Queries that failed (a mistake in the query, a refusal, a timeout, a failure "
    "part way), by protocol.",
    "rows": "Rows the queries' answers read, by protocol (a JSON answer reads one past its "
    "limit, to tell it was cut).",
    "bytes": "Arrow bytes of the record batches the queries' answers read, by protocol.",
}


class QueryCounts(Collector):
    """Requests, errors, rows and bytes of the queries answered, by protocol."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._values = {(name, p): 0 for name in FAMILIES for p in PROTOCOLS}

    def add(self, protocol: str, name: str, amount: int = 1) -> None:
        with self._guard:
            self._values[(name, protocol)] += amount

    def value(self, protocol: str, name: str) -> int:
        with self._guard:
            return self._values[(name, protocol)]

    @contextmanager
    def request(self, protocol: str) -> Iterator[None]:
        """One query asked for; an error raised inside counts it as failed."""
        self.add(protocol, "requests")
        try:
            yield
        except Exception:
            self.add(protocol, "errors")
            raise

    def batches(self, protocol: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` as they go, each one's rows and bytes counted; a failure part way is
        an error (a client that hangs up is not)."""
        try:
            for batch in batches:
                with self._guard:
                    self._values[("rows", protocol)] += batch.num_rows
                    self._values[("bytes", protocol)] += batch.nbytes
                yield batch
        except Exception:
            self.add(protocol, "errors")
            raise

    def collect(self) -> Iterator[Metric]:
        with self._guard:
            values = dict(self._values)
        for name, documentation in FAMILIES.items():
            family = CounterMetricFamily(
                f"headgate_query_{name}", documentation, labels=["protocol"]
            )
            for protocol in PROTOCOLS:
                family.add_metric([protocol], values[(name, protocol)])
            yield family
