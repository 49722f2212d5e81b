"""Names of the objects headgate makes in the warehouse.

>>> physical_table("headgate_physical", "staging.orders", "1a2b3c4d5e6f7a8b")
'headgate_physical.staging__orders__1a2b3c4d5e6f7a8b'
>>> view_name("staging.orders", "prod")
'staging.orders'
>>> view_name("staging.orders", "dev-alice")
'staging__dev_alice.orders'
>>> view_name("orders", "prod")
'main.orders'
"""

from __future__ import annotations

import re

PRODUCTION = "prod"


def physical_table(schema: str, name: str, fingerprint: str) -> str:
    return f"{schema}.{name.replace('.', '__')}__{fingerprint}"


def env_schema_suffix(environment: str) -> str:
    return "" if environment == PRODUCTION else "__" + re.sub(r"\W", "_", environment.lower())


def view_name(name: str, environment: str, prefix: str = "") -> str:
    """Where readers find a model in an environment: prod uses the model's own name.

    ``prefix`` (the engine's schema prefix) goes before the schema: ``analytics_marts.revenue``.
    """
    schema, _, table = name.rpartition(".")
    schema = (schema or "main").replace(".", "__")
    return f"{prefix}{schema}{env_schema_suffix(environment)}.{table}"


def valid_environment(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,62}", name))
