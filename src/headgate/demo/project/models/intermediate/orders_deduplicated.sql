/* headgate:
materialized: table
unique_key: order_id
tags: [intermediate]
owner: data-platform
description: One row per order. Where the export repeated an order, keeps the copy with the furthest status and records how many copies there were.
columns:
  order_id:
    description: Primary key.
    checks: [not_null, unique]
  export_copies:
    description: Rows the export had for this order; above 1 means it was sent more than once.
*/
select
    order_id,
    customer_id,
    ordered_at,
    order_date,
    status,
    channel,
    currency,
    count(*) over (partition by order_id) as export_copies
from staging.orders
qualify row_number() over (
    partition by order_id
    order by
        case status
            when 'placed' then 1
            when 'shipped' then 2
            when 'delivered' then 3
            when 'returned' then 4
            when 'cancelled' then 4
            else 0
        end desc,
        ordered_at desc
) = 1
