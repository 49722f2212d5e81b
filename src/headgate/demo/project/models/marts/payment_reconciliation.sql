/* headgate:
materialized: table
unique_key: order_id
tags: [marts, finance]
owner: finance
description: Orders whose payments do not match their line total, for finance to follow up. Cancelled orders that were never charged are left out.
columns:
  order_id:
    description: Primary key.
  payment_gap:
    description: amount_paid - order_total, in the order's currency.
  payment_status:
    description: underpaid, overpaid, or unpaid.
  suspect_lines:
    description: Lines with a zero or negative quantity, a common cause of unpaid orders.
*/
select
    order_id,
    order_date,
    status,
    customer_id,
    currency,
    order_total,
    amount_paid,
    payment_gap,
    payment_count,
    payment_methods,
    payment_status,
    suspect_lines
from intermediate.order_facts
where
    payment_status <> 'paid'
    and not (payment_status = 'unpaid' and coalesce(status, '') = 'cancelled')
