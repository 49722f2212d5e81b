/* headgate:
materialized: view
tags: [staging]
owner: data-platform
description: One row per order line, with its amount in the order's currency. Lines with a zero or negative quantity are kept.
columns:
  order_id:
    description: The order the line belongs to.
  line_number:
    description: Position of the line within its order, from 1.
  quantity:
    description: Units ordered; zero or negative on a few mis-keyed lines.
    checks:
      - range: {min: 1, max: 1000}
        severity: warn
  unit_price:
    description: Price of one unit in the order's currency.
  discount:
    description: Fraction taken off the line, 0 to 0.25.
  line_amount:
    description: quantity * unit_price * (1 - discount), in the order's currency.
*/
select
    cast(order_id as bigint) as order_id,
    cast(line as integer) as line_number,
    cast(product_id as bigint) as product_id,
    cast(quantity as integer) as quantity,
    cast(unit_price as decimal(12, 2)) as unit_price,
    cast(discount as decimal(4, 2)) as discount,
    -- money in decimals: sums and rounding come out the same on every engine, in every order
    quantity * cast(unit_price as decimal(12, 2)) * (1 - cast(discount as decimal(4, 2)))
        as line_amount
from shop.order_items
