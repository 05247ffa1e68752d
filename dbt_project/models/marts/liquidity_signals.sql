{#-
  Daily reserve-scarcity / funding-stress flags on AS-KNOWN values (what was public at the end of
  each US-Eastern day), from the first WALCL date. Thresholds are vars. Each flag is NULL when its
  inputs are NULL (missing or stale), so it never guesses.
    sofr_above_iorb              SOFR - IORB > var('sofr_iorb_threshold_bp') bp
    sofr_effr_above_p95          SOFR - EFFR above its trailing var('sofr_effr_lookback_days')-day
                                 var('sofr_effr_percentile') percentile (window excludes the day
                                 itself; needs var('sofr_effr_min_obs') days)
    on_rrp_below_buffer          ON RRP < var('on_rrp_buffer_bn') bn
    reserves_below_gdp_threshold reserves / GDP < var('reserves_gdp_threshold_pct') %
    reserve_regime_scarce        reserves / bank assets < var('reserve_scarce_pct') %
    standing_repo_used           standing repo (RPONTSYD) > var('standing_repo_used_min_bn') bn;
                                 NULL where the series does not exist in the data
  stress_score = n_flags_true / n_flags_evaluated (share of evaluable flags that are on, 0..1;
  NULL when no flag can be evaluated).
-#}
{%- set flags = ['sofr_above_iorb', 'sofr_effr_above_p95', 'on_rrp_below_buffer', 'reserves_below_gdp_threshold', 'reserve_regime_scarce', 'standing_repo_used'] -%}
with known as (
    select * from {{ ref('int_liquidity_daily__known') }}
),

first_walcl as (
    select min(observation_date) as first_date
    from {{ ref('int_series_observations') }}
    where concept = 'fed_total_assets'
),

with_percentile as (
    select
        *,
        quantile_cont(sofr_effr_spread_bp, {{ var('sofr_effr_percentile') }}) over trailing_year as sofr_effr_spread_p95_raw,
        count(sofr_effr_spread_bp) over trailing_year                                        as sofr_effr_spread_n_obs
    from known
    window trailing_year as (
        order by date_day
        range between interval {{ var('sofr_effr_lookback_days') }} days preceding and interval 1 day preceding
    )
),

flagged as (
    select
        *,
        case when sofr_effr_spread_n_obs >= {{ var('sofr_effr_min_obs') }}
             then round(sofr_effr_spread_p95_raw, 4) end                       as sofr_effr_spread_p95_bp,
        sofr_iorb_spread_bp > {{ var('sofr_iorb_threshold_bp') }}              as sofr_above_iorb,
        on_rrp_bn < {{ var('on_rrp_buffer_bn') }}                              as on_rrp_below_buffer,
        reserves_to_gdp_pct < {{ var('reserves_gdp_threshold_pct') }}          as reserves_below_gdp_threshold,
        reserve_regime = 'scarce'                                              as reserve_regime_scarce,
        standing_repo_bn > {{ var('standing_repo_used_min_bn') }}              as standing_repo_used
    from with_percentile
    where date_day >= (select first_date from first_walcl)
),

flagged_p95 as (
    select
        *,
        sofr_effr_spread_bp > sofr_effr_spread_p95_bp as sofr_effr_above_p95
    from flagged
),

scored as (
    select
        *,
        {%- for f in flags %}
        coalesce(cast({{ f }} as integer), 0){{ " +" if not loop.last }}
        {%- endfor %} as n_flags_true,
        {%- for f in flags %}
        cast({{ f }} is not null as integer){{ " +" if not loop.last }}
        {%- endfor %} as n_flags_evaluated
    from flagged_p95
)

select
    date_day                               as date,
    sofr_pct,
    iorb_pct,
    effr_pct,
    sofr_iorb_spread_bp,
    sofr_effr_spread_bp,
    sofr_effr_spread_p95_bp,
    on_rrp_bn,
    reserves_bn,
    gdp_bn,
    reserves_to_gdp_pct,
    bank_assets_bn,
    reserves_to_bank_assets_pct,
    reserve_regime,
    standing_repo_bn,
    net_liquidity_bn,
    {%- for f in flags %}
    {{ f }},
    {%- endfor %}
    cast(n_flags_true as integer)          as n_flags_true,
    cast(n_flags_evaluated as integer)     as n_flags_evaluated,
    round(n_flags_true / nullif(n_flags_evaluated, 0), 4) as stress_score,
    stale_inputs,
    missing_inputs
from scored
