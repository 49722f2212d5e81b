/* headgate:
materialized: view
tags: [staging]
owner: data-platform
description: Every order row as exported, renamed and typed. Re-sent copies of an order are kept; intermediate.orders_deduplicated picks one.
columns:
  order_id:
    description: The shop's order number; not unique here, the export repeats some orders.
  customer_id:
    description: Who ordered; null or unknown to customers for some orders.
    checks:
      - not_null:
        severity: warn
        max_failures: 1%
  ordered_at:
    description: When the order was placed, as exported (a few are in 1970 or 2031).
  order_date:
    description: The calendar day of ordered_at.
  status:
    description: placed, shipped, delivered, returned or cancelled, lower-cased; null where the export said 'N/A'.
    checks:
      - accepted_values: {values: [placed, shipped, delivered, returned, cancelled]}
        severity: warn
  currency:
    description: ISO 4217 code of the currency the order was charged in.
*/
select
    cast(id as bigint) as order_id,
    cast(customer_id as bigint) as customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(ordered_at as date) as order_date,
    case
        when upper(trim(status)) in ('N/A', 'NA', '') then null
        else lower(trim(status))
    end as status,
    lower(trim(channel)) as channel,
    upper(trim(currency)) as currency
from shop.orders
