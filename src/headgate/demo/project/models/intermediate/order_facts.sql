/* headgate:
materialized: table
unique_key: order_id
tags: [intermediate]
owner: data-platform
description: One row per order with its lines, payments, customer match and amounts in euros; the table the marts read.
columns:
  order_id:
    description: Primary key.
    checks: [not_null, unique]
  customer_known:
    description: True when customer_id is found in customers.
    checks:
      - expression: {sql: customer_known}
        severity: warn
        description: Orders whose customer is missing or unknown (the export's orphans).
  has_suspect_date:
    description: True when ordered_at lies in the future or before 2000 (a mistyped or zero timestamp).
  order_total:
    description: What the lines add up to, in the order's currency.
  amount_paid:
    description: What the payments add up to, in the order's currency.
  payment_gap:
    description: amount_paid - order_total.
  payment_status:
    description: paid (within 5 cents of the total), underpaid, overpaid, or unpaid.
  counts_as_revenue:
    description: True for placed, shipped and delivered orders.
  units_per_eur:
    description: Exchange rate used, units of the order's currency per euro.
  revenue_eur:
    description: order_total_eur when the order counts as revenue, else 0.
*/
with exchange_rates as (
    select
        currency,
        cast(units_per_eur as double) as units_per_eur
    from (
        values
            ('EUR', 1.0),
            ('GBP', 0.85),
            ('SEK', 11.5),
            ('PLN', 4.3),
            ('USD', 1.08),
            ('CHF', 0.95)
    ) as rates (currency, units_per_eur)
),

joined as (
    select
        o.order_id,
        o.customer_id,
        o.ordered_at,
        o.order_date,
        o.status,
        o.channel,
        o.currency,
        o.export_copies,
        c.customer_id is not null as customer_known,
        o.ordered_at > cast(current_timestamp as timestamp)
        or o.ordered_at < timestamp '2000-01-01' as has_suspect_date,
        coalesce(t.line_count, 0) as line_count,
        coalesce(t.units, 0) as units,
        coalesce(t.suspect_lines, 0) as suspect_lines,
        coalesce(t.order_total, 0) as order_total,
        coalesce(p.amount_paid, 0) as amount_paid,
        coalesce(p.payment_count, 0) as payment_count,
        p.payment_methods,
        p.first_paid_at,
        p.order_id is not null as has_payments,
        coalesce(o.status in ('placed', 'shipped', 'delivered'), false) as counts_as_revenue,
        r.units_per_eur,
        coalesce(t.cost_eur, 0) as cost_eur
    from intermediate.orders_deduplicated as o
    left join intermediate.order_totals as t on t.order_id = o.order_id
    left join intermediate.order_payments as p on p.order_id = o.order_id
    left join staging.customers as c on c.customer_id = o.customer_id
    left join exchange_rates as r on r.currency = o.currency
)

select
    * exclude (has_payments),
    round(amount_paid - order_total, 2) as payment_gap,
    case
        when not has_payments then 'unpaid'
        when abs(amount_paid - order_total) <= 0.05 then 'paid'
        when amount_paid < order_total then 'underpaid'
        else 'overpaid'
    end as payment_status,
    cast(round(order_total / units_per_eur, 2) as decimal(18, 2)) as order_total_eur,
    case
        when counts_as_revenue then cast(round(order_total / units_per_eur, 2) as decimal(18, 2))
        else 0
    end as revenue_eur
from joined
