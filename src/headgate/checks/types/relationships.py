"""``relationships``: every value of a column exists in another model's column.

One query joins the checked table to the distinct keys of the other model (``DISTINCT``
so a repeated key cannot multiply rows) and counts, in the same pass, the rows checked
and the rows whose value found no match. A NULL value is not a failure.
"""

from __future__ import annotations

from pydantic import Field
from sqlglot import exp

from headgate.checks.evaluation import QueryCheckType, RunContext, Verdict, column_name, row_verdict
from headgate.checks.spec import Check, CheckParams, register
from headgate.checks.sqlgen import SAMPLE_LIMIT, both, count_if, table_of

CHILD = "headgate_child"
PARENT = "headgate_parent"
KEY = "headgate_key"


class RelationshipsParams(CheckParams):
    to: str = Field(min_length=1, description="the model (or source table) holding the keys")
    column: str = Field(min_length=1, description="its column the values must exist in")


@register
class Relationships(QueryCheckType):
    name = "relationships"
    params_model = RelationshipsParams
    scopes = frozenset({"column"})
    example = "relationships: {to: staging.customers, column: customer_id}"

    def evaluate(self, check: Check, run: RunContext) -> Verdict:
        params = check.params
        assert isinstance(params, RelationshipsParams)
        sql = run.sql
        parent_table = run.physical(params.to.lower(), check)
        keys = (
            exp.select(exp.column(params.column, quoted=True).as_(KEY))
            .distinct()
            .from_(table_of(parent_table))
        )
        child_value = exp.column(column_name(check), table=CHILD, quoted=True)
        joined = (
            exp.select()
            .from_(sql.source.as_(CHILD))
            .join(
                keys.subquery(PARENT),
                on=child_value.copy().eq(exp.column(KEY, table=PARENT, quoted=True)),
                join_type="left",
            )
        )
        where = sql.where(check)
        orphan = both(
            where,
            exp.not_(exp.Is(this=child_value.copy(), expression=exp.null())),
            exp.Is(this=exp.column(KEY, table=PARENT, quoted=True), expression=exp.null()),
        )
        decide = sql.render(
            joined.copy().select(count_if(where).as_("total"), count_if(orphan).as_("failing"))
        )
        total, failing = run.execute(decide)[0]
        every_child_column = exp.Column(this=exp.Star(), table=exp.to_identifier(CHILD))
        sample = joined.select(every_child_column).where(orphan).limit(SAMPLE_LIMIT)
        what = f"have a {check.column} not found in {params.to}.{params.column}"
        return row_verdict(
            check, int(failing), int(total), what, sql=decide, sample_sql=sql.render(sample)
        )
