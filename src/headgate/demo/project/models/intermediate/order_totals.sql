/* headgate:
materialized: table
unique_key: order_id
tags: [intermediate]
owner: data-platform
description: One row per order that has lines, with what the customer should have paid (order's currency) and what the goods cost (euros).
columns:
  order_id:
    description: Primary key.
  suspect_lines:
    description: Lines with a zero or negative quantity.
  gross_amount:
    description: Sum of quantity * unit_price before discounts.
  discount_amount:
    description: What the discounts took off.
  order_total:
    description: Sum of the line amounts, rounded to cents.
  cost_eur:
    description: Units times the products' current unit cost, in euros.
*/
select
    i.order_id,
    count(*) as line_count,
    sum(i.quantity) as units,
    count(*) filter (where i.quantity <= 0) as suspect_lines,
    round(sum(i.quantity * i.unit_price), 2) as gross_amount,
    round(sum(i.quantity * i.unit_price * i.discount), 2) as discount_amount,
    round(sum(i.line_amount), 2) as order_total,
    round(sum(i.quantity * p.unit_cost_eur), 2) as cost_eur
from staging.order_items as i
left join staging.products as p on p.product_id = i.product_id
group by i.order_id
