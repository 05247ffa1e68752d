-- One row per calendar day from the first WALCL observation: Fed balance sheet, net liquidity,
-- money-market spreads, reserve ratios, regime and policy phase. Observation-date view (a value
-- holds from its own date until the next observation, NULL past the catalog's max staleness),
-- plus the release-aware net liquidity (net_liquidity_known_bn) for comparison. The daily
-- definition (tga_daily_bn from the Daily Treasury Statement, net_liquidity_daily_bn) comes in both
-- views too: observed, and as known (*_known_bn: the DTS for day d is public the next business day).
with observed as (
    select * from {{ ref('int_liquidity_daily__observed') }}
),

known as (
    select
        date_day,
        net_liquidity_bn                  as net_liquidity_known_bn,
        fed_total_assets_observation_date as net_liquidity_known_as_of,
        tga_daily_bn                      as tga_daily_known_bn,
        tga_daily_observation_date        as tga_daily_known_as_of,
        net_liquidity_daily_bn            as net_liquidity_daily_known_bn
    from {{ ref('int_liquidity_daily__known') }}
),

first_walcl as (
    select min(observation_date) as first_date
    from {{ ref('int_series_observations') }}
    where concept = 'fed_total_assets'
),

policy_events as (
    select event_date, phase, stance
    from {{ ref('fed_policy_events') }}
),

daily as (
    select
        observed.*,
        known.net_liquidity_known_bn,
        known.net_liquidity_known_as_of,
        known.tga_daily_known_bn,
        known.tga_daily_known_as_of,
        known.net_liquidity_daily_known_bn
    from observed
    left join known using (date_day)
    where observed.date_day >= (select first_date from first_walcl)
),

with_phase as (
    select daily.*, policy_events.phase as policy_phase, policy_events.stance as policy_stance
    from daily
    asof left join policy_events
        on daily.date_day >= policy_events.event_date
),

with_changes as (
    select
        *,
        -- the calendar has no gaps, so a row offset is a day offset
        round(fed_total_assets_bn - lag(fed_total_assets_bn, 7) over (order by date_day), 6)
            as fed_total_assets_1w_change_bn,
        round(fed_total_assets_bn - lag(fed_total_assets_bn, 91) over (order by date_day), 6)
            as fed_total_assets_13w_change_bn,
        lag(fed_total_assets_bn, 91) over (order by date_day) as fed_total_assets_13w_ago_bn
    from with_phase
)

select
    date_day                                as date,
    fed_total_assets_bn,
    tga_bn,
    on_rrp_bn,
    reserves_bn,
    net_liquidity_bn,
    btfp_bn,
    sofr_pct,
    iorb_pct,
    effr_pct,
    sofr_iorb_spread_bp,
    sofr_effr_spread_bp,
    gdp_bn,
    reserves_to_gdp_pct,
    bank_assets_bn,
    bank_assets_source,
    reserves_to_bank_assets_pct,
    reserve_regime,
    policy_phase,
    policy_stance,
    fed_total_assets_1w_change_bn,
    fed_total_assets_13w_change_bn,
    case
        when fed_total_assets_13w_change_bn is null or fed_total_assets_13w_ago_bn is null then null
        when fed_total_assets_13w_change_bn
             > fed_total_assets_13w_ago_bn * {{ var('balance_sheet_trend_threshold_pct') }} / 100 then 'expanding'
        when fed_total_assets_13w_change_bn
             < -fed_total_assets_13w_ago_bn * {{ var('balance_sheet_trend_threshold_pct') }} / 100 then 'contracting'
        else 'flat'
    end                                     as balance_sheet_trend,
    fed_total_assets_observation_date,
    net_liquidity_known_bn,
    net_liquidity_known_as_of,
    tga_daily_bn,
    tga_daily_observation_date,
    net_liquidity_daily_bn,
    tga_daily_known_bn,
    tga_daily_known_as_of,
    net_liquidity_daily_known_bn,
    stale_inputs,
    missing_inputs
from with_changes
