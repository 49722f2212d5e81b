"""DuckDB's arithmetic spelled for Spark: models compute the same numbers on both engines.

Two differences matter to a model's results:

- DuckDB's ``/`` divides as doubles whatever the operands; Spark divides decimals exactly
  (``555.03 / 6`` is ``92.505`` there, ``92.50499999999999...`` in DuckDB). A division
  with no double operand gets its numerator cast to ``DOUBLE``.
- DuckDB's ``round(x, n)`` of a double rounds the double's exact binary value, halves
  away from zero; Spark's rounds its shortest decimal spelling (``92.505`` up to
  ``92.51``, where DuckDB gives ``92.5``). The product ``x * 10^n`` is taken with its
  exact rounding error (Dekker's two-product, in doubles), which decides a product that
  lands on a half; every other case rounds the same either way.
"""

from __future__ import annotations

from sqlglot import exp

SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's split of a double into two 26-bit halves


def spark_arithmetic(query: exp.Expression, surely_exact: object) -> exp.Expression:
    """``query`` with DuckDB's division and rounding of doubles made explicit for Spark."""
    assert callable(surely_exact)

    def divide(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Div) and not node.args.get("typed"):
            double = (exp.DType.DOUBLE, exp.DType.FLOAT)
            if not (node.this.is_type(*double) or node.expression.is_type(*double)):
                node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
        return node

    def round_(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Round) and not surely_exact(node.this):
            return round_exact(node) or node
        return node

    return query.transform(divide, copy=False).transform(round_, copy=False)


def round_exact(node: exp.Round) -> exp.Expression | None:
    """``round(x, n)`` of a double as DuckDB computes it (n from 0 to 15, a literal)."""
    decimals = node.args.get("decimals") or exp.Literal.number(0)
    if not isinstance(decimals, exp.Literal) or decimals.is_string:
        return None
    try:
        places = int(decimals.this)
    except ValueError:
        return None
    if not 0 <= places <= 15:
        return None
    x = exp.Cast(this=exp.Paren(this=node.this.copy()), to=exp.DataType.build("DOUBLE"))
    sql = x.sql(dialect="spark")
    scale = f"1e{places}"
    a = f"abs({sql})"
    p = f"({a} * {scale})"
    # Dekker: p + e == |x| * 10^n exactly
    hi_a = f"(({SPLIT} * {a}) - (({SPLIT} * {a}) - {a}))"
    lo_a = f"({a} - {hi_a})"
    hi_b = f"(({SPLIT} * {scale}) - (({SPLIT} * {scale}) - {scale}))"
    lo_b = f"({scale} - {hi_b})"
    e = f"(((({hi_a} * {hi_b}) - {p}) + {hi_a} * {lo_b} + {lo_a} * {hi_b}) + {lo_a} * {lo_b})"
    # floor as doubles (z - z % 1, z >= 0): Spark's floor() answers a BIGINT, which overflows
    half = f"({p} % 1 = 0.5)"
    up = f"({p} + 0.5)"
    rounded = f"(CASE WHEN {half} AND {e} < 0 THEN {p} - {p} % 1 ELSE {up} - {up} % 1 END)"
    text = (
        f"CASE WHEN isnan({sql}) OR {a} = double('infinity') THEN {sql} "
        f"ELSE sign({sql}) * {rounded} / {scale} END"
    )
    return exp.Paren(this=exp.maybe_parse(text, dialect="spark"))
