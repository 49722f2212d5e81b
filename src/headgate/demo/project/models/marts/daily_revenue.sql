/* headgate:
materialized: incremental
time_column: order_date
start: '2024-11-01'
interval: day
unique_key: order_date
tags: [marts, finance]
owner: analytics
description: Orders and revenue per day, in euros. Built one day at a time; headgate limits each build to the days it covers.
columns:
  order_date:
    description: The calendar day; one row per day with orders.
    checks: [not_null, unique]
  orders:
    description: Orders placed that day, whatever their status.
  customers:
    description: Distinct customers who ordered that day.
  revenue_eur:
    description: Revenue in euros of the orders that count as revenue.
    checks:
      - range: {min: 0}
  average_order_value_eur:
    description: revenue_eur per revenue order.
checks:
  - row_count: {min: 1}
*/
select
    order_date,
    count(*) as orders,
    count(*) filter (where counts_as_revenue) as revenue_orders,
    count(distinct customer_id) as customers,
    count(*) filter (where status = 'cancelled') as cancelled_orders,
    count(*) filter (where status = 'returned') as returned_orders,
    round(sum(revenue_eur), 2) as revenue_eur,
    round(coalesce(sum(cost_eur) filter (where counts_as_revenue), 0), 2) as cost_eur,
    round(sum(revenue_eur) / nullif(count(*) filter (where counts_as_revenue), 0), 2)
        as average_order_value_eur
from intermediate.order_facts
group by order_date
