"""Custom SQL checks: ``checks/<name>.sql``, a query whose rows are the failures.

The query reads models by name; when it runs, each name is replaced by the table to read
(the new build of the checked model, the published table of any other), so one file
audits a build before it is published. Parsing the files is
:func:`headgate.checks.parse.parse_custom_checks`.
"""

from __future__ import annotations

import sqlglot
from pydantic import Field
from sqlglot import exp

from headgate.checks.evaluation import QueryCheckType, RunContext, Verdict, row_verdict
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SAMPLE_LIMIT, table_of
from headgate.project.models import qualified_name


class CustomSqlParams(CheckParams):
    sql: str = Field(min_length=1)
    reads: list[str] = Field(default_factory=list, description="tables the query reads")
    path: str = Field(description="the file, relative to the project")


@register
class CustomSql(QueryCheckType):
    name = "custom_sql"
    params_model = CustomSqlParams
    scopes = frozenset({"model"})
    takes_where = False
    declared_in_yaml = False
    example = "a checks/<name>.sql file: select * from marts.orders where amount < 0"

    def evaluate(self, check: Check, run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, CustomSqlParams)
        query = self.resolved(check, run)
        failures = query.subquery("failures")
        decide = exp.select(exp.Count(this=exp.Star()).as_("failing")).from_(failures.copy())
        decide_sql = run.sql.render(decide)
        failing = int(run.execute(decide_sql)[0][0])
        sample = exp.select(exp.Star()).from_(failures).limit(SAMPLE_LIMIT)
        return row_verdict(
            check,
            failing,
            None,
            f"returned by {params.path}",
            sql=decide_sql,
            sample_sql=run.sql.render(sample),
        )

    def resolved(self, check: Check, run: RunContext) -> exp.Query:
        """The user's query with each model name replaced by the table to read."""
        params = check.params
        assert isinstance(params, CustomSqlParams)
        parsed = sqlglot.parse_one(params.sql, read=run.sql.dialect)
        assert isinstance(parsed, exp.Query)
        ctes = {cte.alias_or_name.lower() for cte in parsed.find_all(exp.CTE)}
        reads = set(params.reads)
        for table in list(parsed.find_all(exp.Table)):
            name = qualified_name(table)
            if not isinstance(table.this, exp.Identifier) or name not in reads:
                continue
            if not table.db and name in ctes:
                continue
            replacement = table_of(run.physical(name, check))
            alias = table.args.get("alias")
            if alias is None and table.name:
                # keep `orders.amount`-style column references working
                alias = exp.TableAlias(this=exp.to_identifier(table.name))
            replacement.set("alias", alias)
            table.replace(replacement)
        return parsed
