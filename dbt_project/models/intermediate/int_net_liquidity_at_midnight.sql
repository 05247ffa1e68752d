{#-
  Net liquidity (the definition var('net_liquidity_definition') names, macro net_liquidity_column)
  AS KNOWN AT 00:00 UTC of each day (release instants, int_liquidity_known_at), and its
  var('corr_change_days')-day log change. What the lead scans (liquidity_lag_scan,
  int_lead_scan_bootstrap) pair a crypto day t with, at t - lead.
-#}
{%- set k = var('corr_change_days') -%}
with known as (
    select cast(observed_at as date) as date_day, {{ net_liquidity_column() }} as nl
    from {{ ref('int_liquidity_known_at') }}
    where observed_at = date_trunc('day', observed_at)
      and {{ net_liquidity_column() }} > 0
)

select
    known.date_day,
    known.nl,
    ln(known.nl / prev.nl) as nl_chg
from known
left join known as prev on prev.date_day = known.date_day - {{ k }}
