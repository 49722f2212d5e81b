/* headgate:
materialized: view
unique_key: payment_id
tags: [staging]
owner: data-platform
description: One row per payment captured by the payment provider.
columns:
  payment_id:
    description: Primary key.
  order_id:
    description: The order paid for; split payments share it.
  method:
    description: card, paypal, klarna, bank_transfer or gift_card.
  amount:
    description: Amount captured, in the order's currency.
  paid_at:
    description: When the provider captured the payment.
*/
select
    cast(id as bigint) as payment_id,
    cast(order_id as bigint) as order_id,
    lower(trim(method)) as method,
    cast(amount as decimal(12, 2)) as amount,
    cast(paid_at as timestamp) as paid_at
from shop.payments
