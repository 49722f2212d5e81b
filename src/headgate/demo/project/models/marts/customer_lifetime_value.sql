/* headgate:
materialized: table
unique_key: customer_id
tags: [marts, finance]
owner: analytics
description: One row per customer with their order history and lifetime revenue in euros; customers who never ordered appear with zeros.
columns:
  customer_id:
    description: Primary key.
  orders:
    description: Orders placed, whatever their status.
  revenue_orders:
    description: Orders that count as revenue (placed, shipped, delivered).
  first_order_at:
    description: First order, ignoring orders with a suspect date.
  last_order_at:
    description: Latest order, ignoring orders with a suspect date.
  lifetime_revenue_eur:
    description: Sum of revenue_eur over the customer's orders.
  average_order_value_eur:
    description: lifetime_revenue_eur per revenue order; null without one.
*/
select
    c.customer_id,
    c.customer_name,
    c.email,
    c.country_code,
    c.segment,
    c.signed_up_at,
    count(f.order_id) as orders,
    count(f.order_id) filter (where f.counts_as_revenue) as revenue_orders,
    count(f.order_id) filter (where f.status in ('returned', 'cancelled'))
        as returned_or_cancelled_orders,
    min(f.ordered_at) filter (where not f.has_suspect_date) as first_order_at,
    max(f.ordered_at) filter (where not f.has_suspect_date) as last_order_at,
    round(coalesce(sum(f.revenue_eur), 0), 2) as lifetime_revenue_eur,
    round(
        sum(f.revenue_eur) / nullif(count(f.order_id) filter (where f.counts_as_revenue), 0), 2
    ) as average_order_value_eur
from staging.customers as c
left join intermediate.order_facts as f on f.customer_id = c.customer_id
group by
    c.customer_id,
    c.customer_name,
    c.email,
    c.country_code,
    c.segment,
    c.signed_up_at
