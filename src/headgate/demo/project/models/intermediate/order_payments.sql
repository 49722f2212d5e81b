/* headgate:
materialized: table
unique_key: order_id
tags: [intermediate]
owner: data-platform
description: One row per order that received payments, summing split payments.
columns:
  order_id:
    description: Primary key.
  payment_count:
    description: Payments captured for the order; 2 when a gift card covered part.
  amount_paid:
    description: Sum of the payments, in the order's currency.
  payment_methods:
    description: The distinct methods used, alphabetically, comma-separated.
*/
select
    order_id,
    count(*) as payment_count,
    round(sum(amount), 2) as amount_paid,
    min(paid_at) as first_paid_at,
    max(paid_at) as last_paid_at,
    string_agg(distinct method, ', ' order by method) as payment_methods
from staging.payments
group by order_id
