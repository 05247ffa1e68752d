{#-
  Event windows around Fed policy events (seed policy_events): per event, asset (btc, eth price;
  total market cap) and trading day from var policy_window_before (-10) to var policy_window_after
  (+30) relative to the event, the cumulative log return of the asset and the change of net
  liquidity, reserves and SOFR - IORB since the base, the close of the trading day before the event.

  Trading days: the US money-market business days, i.e. the days with an EFFR fixing (FRED EFFR,
  published for every Fed business day, holidays excluded). Day 0 is the first trading day on or
  after event_date (a Sunday announcement, 2020-03-15, has day 0 on the Monday).
  The close of trading day d: CoinGecko's snapshot at 00:00 UTC of d + 1 (crypto row dated d + 1),
  i.e. 19:00/20:00 New York time on d, after a 14:00 ET FOMC statement; the liquidity values are
  the ones KNOWN AT that same instant (int_liquidity_known_at, release instants), never later
  releases. So day 0 holds the event's first reaction and the base (day -1) none of it.
  Across events of the same kind: mean and sample standard deviation of each measure per asset
  and trading day (kind_*), over the events with a value that day, aggregated in event order
  (kind_stats) so two builds of the same data give the same bits.
-#}
{%- set before = var('policy_window_before') | int -%}
{%- set after = var('policy_window_after') | int -%}
with trading_days as (
    select
        observation_date as trading_day,
        row_number() over (order by observation_date) as day_number
    from (select distinct observation_date from {{ ref('int_series_observations') }} where concept = 'effr')
),

events as (
    select
        events.*,
        (select min(day_number) from trading_days where trading_day >= events.event_date) as day0_number
    from {{ ref('policy_events') }} as events
),

event_days as (
    select
        events.event_date,
        events.event_kind,
        events.rate_change_bp,
        events.scheduled,
        events.event,
        events.source_document,
        trading_days.day_number - events.day0_number as rel_day,
        trading_days.trading_day,
        cast(trading_days.trading_day + 1 as timestamp) as close_at
    from events
    inner join trading_days
        on trading_days.day_number between events.day0_number + {{ before }} and events.day0_number + {{ after }}
        or trading_days.day_number = events.day0_number - 1
),

crypto as (
    {%- for asset, column in {'btc': 'btc_price_usd', 'eth': 'eth_price_usd', 'total': 'total_market_cap_usd'}.items() %}
    select '{{ asset }}' as asset, observed_at, {{ column }} as level
    from {{ ref('int_crypto_daily') }}
    where {{ column }} > 0 and observed_at = date_trunc('day', observed_at)
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

values_at_close as (
    select
        event_days.*,
        crypto.asset,
        crypto.level,
        liquidity.{{ net_liquidity_column() }} as net_liquidity_bn,
        liquidity.reserves_bn,
        liquidity.sofr_iorb_spread_bp
    from event_days
    inner join crypto on crypto.observed_at = event_days.close_at
    left join {{ ref('int_liquidity_known_at') }} as liquidity on liquidity.observed_at = event_days.close_at
),

with_base as (
    select
        v.* exclude (level, net_liquidity_bn, reserves_bn, sofr_iorb_spread_bp),
        ln(v.level / base.level) as cum_log_return,
        round(v.net_liquidity_bn - base.net_liquidity_bn, 6) as net_liquidity_change_bn,
        round(v.reserves_bn - base.reserves_bn, 6) as reserves_change_bn,
        round(v.sofr_iorb_spread_bp - base.sofr_iorb_spread_bp, 4) as sofr_iorb_change_bp,
        base.trading_day as base_trading_day
    from values_at_close as v
    inner join (select * from values_at_close where rel_day = -1) as base
        on base.event_date = v.event_date and base.event_kind = v.event_kind and base.asset = v.asset
    where v.rel_day >= {{ before }}
),

kind_stats as (
    -- aggregated in event order: a float sum in no fixed order can differ in its last bits between
    -- two builds of the same data (incremental vs fresh)
    select
        event_kind,
        asset,
        rel_day,
        cast(count(cum_log_return) as integer) as kind_n_events,
        avg(cum_log_return order by event_date) as kind_mean_log_return,
        stddev_samp(cum_log_return order by event_date) as kind_sd_log_return,
        avg(net_liquidity_change_bn order by event_date) as kind_mean_net_liquidity_change_bn,
        stddev_samp(net_liquidity_change_bn order by event_date) as kind_sd_net_liquidity_change_bn,
        avg(reserves_change_bn order by event_date) as kind_mean_reserves_change_bn,
        stddev_samp(reserves_change_bn order by event_date) as kind_sd_reserves_change_bn,
        avg(sofr_iorb_change_bp order by event_date) as kind_mean_sofr_iorb_change_bp,
        stddev_samp(sofr_iorb_change_bp order by event_date) as kind_sd_sofr_iorb_change_bp
    from with_base
    group by event_kind, asset, rel_day
)

select
    with_base.event_date,
    with_base.event_kind,
    with_base.asset,
    cast(with_base.rel_day as integer) as rel_day,
    with_base.trading_day,
    with_base.close_at,
    with_base.base_trading_day,
    cast(with_base.rate_change_bp as integer) as rate_change_bp,
    with_base.scheduled,
    with_base.event,
    with_base.source_document,
    with_base.cum_log_return,
    with_base.net_liquidity_change_bn,
    with_base.reserves_change_bn,
    with_base.sofr_iorb_change_bp,
    kind_stats.* exclude (event_kind, asset, rel_day)
from with_base
inner join kind_stats using (event_kind, asset, rel_day)
