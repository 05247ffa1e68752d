-- Liquidity inputs and measures per calendar day, observation-date view (a value holds from its
-- own date until the next observation, within the catalog's max staleness). The formulas are in
-- int_liquidity_measures, shared with the as-known views.
select
    cast(as_of as date) as date_day,
    * exclude (as_of_view, as_of)
from {{ ref('int_liquidity_measures') }}
where as_of_view = 'observed'
