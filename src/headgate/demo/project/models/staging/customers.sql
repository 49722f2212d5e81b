/* headgate:
materialized: view
unique_key: customer_id
tags: [staging]
owner: data-platform
description: One row per customer as exported, with emails trimmed and placeholder countries made null.
columns:
  customer_id:
    description: Primary key, the shop's customer number.
    checks: [not_null, unique]
  email:
    description: Email trimmed and lower-cased; kept even when it is not a valid address.
  email_is_valid:
    description: True when the email has the shape name@domain.tld.
    checks:
      - expression: {sql: email_is_valid}
        severity: warn
  country_code:
    description: ISO 3166 alpha-2 code; null where the export had 'N/A' or '-'.
  segment:
    description: consumer, business or wholesale.
*/
select
    cast(id as bigint) as customer_id,
    trim(name) as customer_name,
    lower(trim(email)) as email,
    coalesce(regexp_full_match(lower(trim(email)), '[^@ ]+@[^@ ]+\.[a-z]{2,}'), false)
        as email_is_valid,
    case
        when trim(country) in ('N/A', 'n/a', '-', '') then null
        else upper(trim(country))
    end as country_code,
    cast(signed_up_at as timestamp) as signed_up_at,
    lower(trim(segment)) as segment
from shop.customers
