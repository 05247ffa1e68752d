{#-
  Correlation of each crypto asset with net liquidity `lead_days` earlier (weekly or daily
  definition by var('net_liquidity_definition'), macro net_liquidity_column), for every lead from 0 to
  var('lag_scan_max_days') in steps of var('lag_scan_step_days'), per period (var('lag_scan_periods'),
  applied to the crypto date). The crypto value of day t is its 00:00 UTC snapshot; it is paired
  with net liquidity AS KNOWN AT 00:00 UTC of day t - lead (release instants, int_liquidity_known_at),
  so lead 0 pairs a snapshot with what was public when it was taken. Two flavours:
    levels  : corr(asset level on day t, net liquidity known at t - lead)
    changes : corr(ln(x_t / x_{t-7}), ln(nl_{t-lead} / nl_{t-lead-7}))
  Assets: btc and eth market cap and total crypto market cap (USD; coin_id NULL), and the market
  cap of every loaded coin (LIQUIDITY_COINS) under its CoinGecko id (coin_id = asset). A
  correlation needs var('lag_scan_min_obs') complete pairs, else NULL. The best lead per asset and
  period is the one with the highest (most positive) correlation: rank_* = 1, is_best_* = true;
  best_lead_*_days repeats it on every row; is_near_best_* marks leads within
  var('lag_scan_near_best_tolerance') of the best correlation, so a wide plateau (unstable best
  lead) is visible at a glance.
  best_*_ci_*: the moving-block bootstrap intervals of int_lead_scan_bootstrap (scope 'period'),
  for btc, eth and total; NULL for coin rows.
-#}
{%- set periods = var('lag_scan_periods') -%}
with known_changes as (
    select * from {{ ref('int_net_liquidity_at_midnight') }}
),

crypto_long as (
    select * from {{ ref('int_crypto_market_caps_long') }}
),

leads as (
    select cast(unnest(range(0, {{ var('lag_scan_max_days') }} + 1, {{ var('lag_scan_step_days') }})) as integer) as lead_days
),

periods as (
    {%- for p in periods %}
    select
        '{{ p.name }}' as period,
        {{ "cast('" ~ p.start ~ "' as date)" if p.start else "cast(null as date)" }} as period_start,
        {{ "cast('" ~ p.end ~ "' as date)" if p.end else "cast(null as date)" }} as period_end
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

shifted as (
    -- the liquidity date each crypto day is paired with, as a column so the join below is an
    -- equi-join (a hash join) rather than a filtered cross product
    select
        crypto_long.*,
        leads.lead_days,
        crypto_long.date_day - leads.lead_days as liquidity_date
    from crypto_long
    cross join leads
),

pairs as (
    select
        shifted.asset,
        shifted.coin_id,
        shifted.lead_days,
        shifted.date_day,
        shifted.level,
        shifted.chg,
        known_changes.nl,
        known_changes.nl_chg
    from shifted
    inner join known_changes
        on known_changes.date_day = shifted.liquidity_date
),

scan as (
    select
        pairs.asset,
        pairs.coin_id,
        periods.period,
        periods.period_start,
        periods.period_end,
        pairs.lead_days,
        cast(regr_count(pairs.level, pairs.nl) as bigint)   as n_obs_levels,
        corr(pairs.level, pairs.nl)          as corr_levels_raw,
        cast(regr_count(pairs.chg, pairs.nl_chg) as bigint) as n_obs_changes,
        corr(pairs.chg, pairs.nl_chg)        as corr_changes_raw,
        min(pairs.date_day)                  as first_date,
        max(pairs.date_day)                  as last_date
    from pairs
    inner join periods
        on (periods.period_start is null or pairs.date_day >= periods.period_start)
        and (periods.period_end is null or pairs.date_day <= periods.period_end)
    group by all
),

gated as (
    select
        * exclude (corr_levels_raw, corr_changes_raw),
        case when n_obs_levels >= {{ var('lag_scan_min_obs') }} then round(corr_levels_raw, 6) end   as corr_levels,
        case when n_obs_changes >= {{ var('lag_scan_min_obs') }} then round(corr_changes_raw, 6) end as corr_changes
    from scan
),

ranked as (
    select
        *,
        case when corr_levels is not null then
            rank() over (partition by asset, period order by corr_levels desc nulls last) end  as rank_levels,
        case when corr_changes is not null then
            rank() over (partition by asset, period order by corr_changes desc nulls last) end as rank_changes,
        max(corr_levels) over (partition by asset, period)  as best_corr_levels,
        max(corr_changes) over (partition by asset, period) as best_corr_changes
    from gated
),

ci as (
    -- moving-block bootstrap intervals of the best lead and its correlation (wide assets only)
    select * from {{ ref('int_lead_scan_bootstrap') }} where scope = 'period'
),

best as (
    select
        *,
        -- ties: the shortest lead wins, so the result is deterministic
        min(case when rank_levels = 1 then lead_days end) over (partition by asset, period)  as best_lead_levels_days,
        min(case when rank_changes = 1 then lead_days end) over (partition by asset, period) as best_lead_changes_days
    from ranked
),

with_ci as (
    select
        best.*,
        {%- for kind in ['levels', 'changes'] %}
        ci_{{ kind }}.corr_ci_low       as best_corr_{{ kind }}_ci_low,
        ci_{{ kind }}.corr_ci_high      as best_corr_{{ kind }}_ci_high,
        cast(ci_{{ kind }}.lead_ci_low_days as integer)  as best_lead_{{ kind }}_ci_low_days,
        cast(ci_{{ kind }}.lead_ci_high_days as integer) as best_lead_{{ kind }}_ci_high_days,
        {%- endfor %}
        ci_levels.ci_level
    from best
    {%- for kind in ['levels', 'changes'] %}
    left join ci as ci_{{ kind }}
        on ci_{{ kind }}.asset = best.asset
        and ci_{{ kind }}.period = best.period
        and ci_{{ kind }}.kind = '{{ kind }}'
        and best.coin_id is null
    {%- endfor %}
)

select
    asset,
    coin_id,
    period,
    period_start,
    period_end,
    lead_days,
    corr_levels,
    n_obs_levels,
    corr_changes,
    n_obs_changes,
    cast(rank_levels as integer)                            as rank_levels,
    coalesce(lead_days = best_lead_levels_days, false)      as is_best_levels,
    cast(rank_changes as integer)                           as rank_changes,
    coalesce(lead_days = best_lead_changes_days, false)     as is_best_changes,
    cast(best_lead_levels_days as integer)                  as best_lead_levels_days,
    best_corr_levels,
    cast(best_lead_changes_days as integer)                 as best_lead_changes_days,
    best_corr_changes,
    coalesce(corr_levels >= best_corr_levels - {{ var('lag_scan_near_best_tolerance') }}, false)   as is_near_best_levels,
    coalesce(corr_changes >= best_corr_changes - {{ var('lag_scan_near_best_tolerance') }}, false) as is_near_best_changes,
    first_date,
    last_date,
    {%- for kind in ['levels', 'changes'] %}
    best_corr_{{ kind }}_ci_low,
    best_corr_{{ kind }}_ci_high,
    best_lead_{{ kind }}_ci_low_days,
    best_lead_{{ kind }}_ci_high_days,
    {%- endfor %}
    ci_level
from with_ci
