/* headgate:
materialized: table
unique_key: product_id
tags: [marts]
owner: analytics
description: One row per product with units sold, revenue, margin and return rate over the whole history.
columns:
  product_id:
    description: Primary key.
  orders:
    description: Orders with at least one line of the product, whatever their status.
  units_sold:
    description: Units in orders that count as revenue.
  revenue_eur:
    description: Line amounts in euros over orders that count as revenue.
  gross_margin_eur:
    description: revenue_eur minus the units' cost.
  return_rate:
    description: Share of the product's orders that were returned.
*/
with sales as (
    select
        i.product_id,
        count(distinct i.order_id) as orders,
        count(distinct i.order_id) filter (where f.status = 'returned') as returned_orders,
        sum(i.quantity) filter (where f.counts_as_revenue) as units_sold,
        sum(i.line_amount / f.units_per_eur) filter (where f.counts_as_revenue) as revenue_eur,
        sum(i.quantity) filter (where f.counts_as_revenue) as revenue_units
    from staging.order_items as i
    inner join intermediate.order_facts as f on f.order_id = i.order_id
    group by i.product_id
)

select
    p.product_id,
    p.sku,
    p.product_name,
    p.category,
    p.list_price_eur,
    p.unit_cost_eur,
    p.weight_kg,
    coalesce(s.orders, 0) as orders,
    coalesce(s.units_sold, 0) as units_sold,
    round(coalesce(s.revenue_eur, 0), 2) as revenue_eur,
    round(coalesce(s.revenue_eur, 0) - coalesce(s.revenue_units, 0) * p.unit_cost_eur, 2)
        as gross_margin_eur,
    round(s.returned_orders / nullif(s.orders, 0), 4) as return_rate
from staging.products as p
left join sales as s on s.product_id = p.product_id
