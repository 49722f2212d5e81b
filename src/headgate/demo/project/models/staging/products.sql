/* headgate:
materialized: view
unique_key: product_id
tags: [staging]
owner: data-platform
description: One row per product, with the text weight parsed into kilograms.
columns:
  product_id:
    description: Primary key.
  list_price_eur:
    description: Current list price in euros.
  unit_cost_eur:
    description: What one unit costs the shop, in euros.
  weight_text:
    description: The weight exactly as exported, e.g. '850 g' or '1.25 kg'.
  weight_kg:
    description: The weight in kilograms; bare numbers are read as kilograms.
*/
select
    cast(id as bigint) as product_id,
    trim(sku) as sku,
    trim(name) as product_name,
    lower(trim(category)) as category,
    cast(price as decimal(12, 2)) as list_price_eur,
    cast(cost as decimal(12, 2)) as unit_cost_eur,
    cast(weight as varchar) as weight_text,
    try_cast(regexp_extract(cast(weight as varchar), '[0-9]+(\.[0-9]+)?') as double)
        * case
            when lower(trim(cast(weight as varchar))) like '%kg' then 1.0
            when lower(trim(cast(weight as varchar))) like '%g' then 0.001
            else 1.0
        end as weight_kg
from shop.products
