"""Rewriting a model's SQL so it reads physical tables (when building) or an environment's views (when querying).

Every table reference that names a model or source is swapped for the target
name; a reference without an alias keeps its old name as alias so that
``orders.id`` still resolves.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from headgate.engines.base import table_expression
from headgate.engines.transpile import Columns, render
from headgate.project.models import DIALECT, qualified_name


def rewrite_references(
    sql: str, targets: dict[str, str], *, dialect: str = DIALECT, columns: Columns | None = None
) -> str:
    """``targets`` maps a reference as written (lower-cased, e.g. ``staging.orders``) to a qualified name.

    The SQL is read in the project's dialect and rendered in ``dialect`` (the engine's);
    ``columns`` tells the columns of the tables it reads, for a translation that needs them.
    """
    query = sqlglot.parse_one(sql, dialect=DIALECT)
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}

    def swap(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            return node
        name = qualified_name(node)
        if (not node.db and name in ctes) or name not in targets:
            return node
        replacement = table_expression(targets[name])
        alias = node.args.get("alias")
        if alias is None:
            alias = exp.TableAlias(this=exp.to_identifier(node.name))
        replacement.set("alias", alias)
        for key in ("joins", "pivots", "laterals", "sample", "hints"):
            if node.args.get(key):
                replacement.set(key, node.args[key])
        return replacement

    rewritten = query.transform(swap, copy=False)
    return render(rewritten, read=DIALECT, write=dialect, columns=columns)


def reference_targets(references: list[str], resolve: dict[str, str]) -> dict[str, str]:
    """Targets for the references one model makes (``main.x`` reaches model ``x`` too)."""
    targets = {}
    for ref in references:
        key = ref[5:] if ref.startswith("main.") and ref not in resolve else ref
        if key in resolve:
            targets[ref] = resolve[key]
    return targets
