-- Liquidity inputs and measures AS KNOWN AT each instant of int_series_at_instants (UTC): only
-- observations released (known_at) by then. One row per instant, key observed_at; the crypto marts
-- join it on their snapshot instant. The formulas are in int_liquidity_measures, shared with the
-- daily views.
select
    as_of as observed_at,
    * exclude (as_of_view, as_of)
from {{ ref('int_liquidity_measures') }}
where as_of_view = 'known_at'
