/* headgate:
materialized: table
unique_key: month_start
tags: [marts, finance]
owner: analytics
description: The month's headline numbers for the management report; orders with a suspect date are left out.
columns:
  month_start:
    description: First day of the month.
  active_customers:
    description: Distinct customers who ordered in the month.
  new_customers:
    description: Customers whose first order fell in the month.
  revenue_eur:
    description: Revenue in euros of the orders that count as revenue.
  payment_mismatches:
    description: Orders whose payments differ from their line total.
  revenue_growth:
    description: Revenue change against the previous month, as a fraction.
*/
with orders_by_month as (
    select
        cast(date_trunc('month', order_date) as date) as month_start,
        count(*) as orders,
        count(distinct customer_id) as active_customers,
        count(*) filter (where counts_as_revenue) as revenue_orders,
        count(*) filter (where status = 'returned') as returned_orders,
        count(*) filter (where status = 'cancelled') as cancelled_orders,
        count(*) filter (where payment_status in ('underpaid', 'overpaid')) as payment_mismatches,
        sum(revenue_eur) as revenue_eur,
        coalesce(sum(cost_eur) filter (where counts_as_revenue), 0) as cost_eur
    from intermediate.order_facts
    where not has_suspect_date
    group by 1
),

first_orders as (
    select
        cast(date_trunc('month', first_order_at) as date) as month_start,
        count(*) as new_customers
    from marts.customer_lifetime_value
    where first_order_at is not null
    group by 1
)

select
    m.month_start,
    m.orders,
    m.active_customers,
    coalesce(f.new_customers, 0) as new_customers,
    round(m.revenue_eur, 2) as revenue_eur,
    round(m.revenue_eur - m.cost_eur, 2) as gross_margin_eur,
    round(m.revenue_eur / nullif(m.revenue_orders, 0), 2) as average_order_value_eur,
    round(m.returned_orders / m.orders, 4) as return_rate,
    round(m.cancelled_orders / m.orders, 4) as cancellation_rate,
    m.payment_mismatches,
    round(m.revenue_eur / lag(m.revenue_eur) over (order by m.month_start) - 1, 4)
        as revenue_growth
from orders_by_month as m
left join first_orders as f on f.month_start = m.month_start
order by m.month_start
