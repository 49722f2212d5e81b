"""The delivery interface: what a delivery gets to work with, and what it reports back.

A delivery runs after the models it reads were published in an environment. It
reads them only through ``DeliveryContext.resolve`` (model name -> the table or view
holding it there), so the same delivery file serves every environment, and it
answers with a :class:`DeliveryResult` that the run records and shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from headgate.deliveries.config import Delivery
    from headgate.engines.base import EngineSession

STATUSES = ("delivered", "failed", "skipped")


class CheckOutcome(Protocol):
    """A check's outcome as a report shows it.

    Both :class:`headgate.checks.results.CheckResult` (which has ``name``) and the
    store's ``CheckResultRecord`` (which has ``check_name``) fit; see :func:`check_name`.
    """

    @property
    def model(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def failing_rows(self) -> int | None: ...


def check_name(outcome: CheckOutcome) -> str:
    name = getattr(outcome, "name", None) or getattr(outcome, "check_name", None)
    return str(name or "")


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class DeliveryContext:
    """Everything a delivery may use, handed over by the run that publishes its models.

    ``resolve`` maps a model's name to the table or view to read in ``environment``
    and raises ``KeyError`` for a name that is not a published model. ``database`` is
    the DuckDB warehouse file, given to notebooks so their kernel can open it
    read-only (None for engines that are servers). ``now`` is the delivery's
    timestamp: it fills ``{date}`` in output paths and is printed on reports.
    """

    session: EngineSession
    resolve: Callable[[str], str]
    environment: str
    root: Path
    check_results: Sequence[CheckOutcome] = ()
    run_id: int | None = None
    now: datetime = field(default_factory=_local_now)
    database: Path | None = None


@dataclass
class DeliveryResult:
    """What one delivery did: ``delivered``, ``failed`` (``message`` says why) or ``skipped``."""

    name: str
    type: str
    status: str
    outputs: list[Path] = field(default_factory=list)
    rows: int | None = None
    seconds: float = 0.0
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")

    @classmethod
    def skipped(cls, delivery: Delivery, reason: str) -> DeliveryResult:
        """A delivery not attempted, e.g. because a model it reads was not published."""
        return cls(delivery.name, delivery.type, "skipped", message=reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, for ``--json`` output and the metadata store."""
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "outputs": [str(p) for p in self.outputs],
            "rows": self.rows,
            "seconds": self.seconds,
            "message": self.message,
        }


ConfigT = TypeVar("ConfigT")


class DeliveryType(ABC, Generic[ConfigT]):
    """One kind of delivery (``export``, ``report``, ``notebook``), registered by its name."""

    name: ClassVar[str]
    config_model: ClassVar[type[Any]]

    @abstractmethod
    def reads(self, delivery: Delivery) -> list[str]:
        """The models the delivery reads: it runs only after they were published."""

    @abstractmethod
    def run(self, delivery: Delivery, ctx: DeliveryContext) -> DeliveryResult:
        """Make the delivery's outputs; a user's mistake raises a HeadgateError."""

    def config(self, delivery: Delivery) -> ConfigT:
        if not isinstance(delivery.config, self.config_model):
            raise TypeError(f"delivery '{delivery.name}' is a {delivery.type}, not a {self.name}")
        found: ConfigT = delivery.config
        return found
