-- Liquidity inputs and measures per calendar day, as known at the end of that US-Eastern day
-- (release-aware: only observations with known_on <= day). The formulas are in
-- int_liquidity_measures, shared with the other views.
select
    cast(as_of as date) as date_day,
    * exclude (as_of_view, as_of)
from {{ ref('int_liquidity_measures') }}
where as_of_view = 'known'
