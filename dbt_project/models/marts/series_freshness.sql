{#-
  Freshness of every input series on the last day of the data (as_of_date = the last day of
  int_calendar_days, where every mart ends): one row per catalog series (stg_catalog__series,
  including series without any observation), per CoinGecko coin and for the total market cap.

  status, the rule the marts use to NULL a carried-forward value (int_series_daily, observation-
  date view; is_required plays no part in it there, so none here either):
    missing  no observation at all
    stale    as_of_date - last_observation_date > max_stale_days
    current  otherwise
  Catalog series take max_stale_days from the catalog. CoinGecko has no catalog line: its limit is
  var('crypto_max_stale_days'), the same one day as the Python check quality.crypto_freshness
  (yesterday's close). The data test in _marts__series_freshness.yml keeps the catalog rows equal
  to int_series_daily's status on as_of_date.
-#}
with as_of as (
    select max(date_day) as as_of_date
    from {{ ref('int_calendar_days') }}
),

catalog as (
    select source, series_id, concept, title, cadence, is_required, max_stale_days, target_unit
    from {{ ref('stg_catalog__series') }}
),

catalog_observations as (
    select
        source,
        series_id,
        min(observation_date)                   as first_observation_date,
        max(observation_date)                   as last_observation_date,
        arg_max(value, observation_date)        as last_value,
        arg_max(known_on, observation_date)     as last_known_on
    from {{ ref('int_series_observations') }}
    group by source, series_id
),

catalog_series as (
    select
        catalog.source,
        catalog.series_id,
        catalog.concept,
        catalog.title,
        catalog.cadence,
        catalog.is_required,
        catalog.max_stale_days,
        catalog.target_unit,
        catalog_observations.first_observation_date,
        catalog_observations.last_observation_date,
        catalog_observations.last_value,
        catalog_observations.last_known_on
    from catalog
    left join catalog_observations using (source, series_id)
),

-- a coin day without a market cap (the export has 0.0 on early days) is not an observation of it
coins as (
    select
        'coingecko'                                     as source,
        coin_id                                         as series_id,
        coin_id || '_market_cap'                        as concept,
        upper(coin_id[1]) || coin_id[2:] || ' market cap (daily UTC close)' as title,
        'daily'                                         as cadence,
        -- quality.crypto_freshness fails (not warns) for a configured coin without yesterday's close
        true                                            as is_required,
        {{ var('crypto_max_stale_days') }}              as max_stale_days,
        'usd'                                           as target_unit,
        min(observation_date)                           as first_observation_date,
        max(observation_date)                           as last_observation_date,
        arg_max(market_cap_usd, observation_date)       as last_value,
        arg_max(known_on, observation_date)             as last_known_on
    from {{ ref('stg_coingecko__market_chart') }}
    where market_cap_usd is not null
    group by coin_id
),

-- one row even before any load: a missing total market cap is reported, not dropped
total_market_cap as (
    select
        'coingecko'                                     as source,
        'global'                                        as series_id,
        'total_market_cap'                              as concept,
        'Total crypto market cap (daily UTC)'           as title,
        'daily'                                         as cadence,
        -- no Python check covers it: optional, like the optional catalog series
        false                                           as is_required,
        {{ var('crypto_max_stale_days') }}              as max_stale_days,
        'usd'                                           as target_unit,
        min(observation_date)                           as first_observation_date,
        max(observation_date)                           as last_observation_date,
        arg_max(total_market_cap_usd, observation_date) as last_value,
        arg_max(known_on, observation_date)             as last_known_on
    from {{ ref('stg_coingecko__global') }}
),

all_series as (
    select * from catalog_series
    union all by name
    select * from coins
    union all by name
    select * from total_market_cap
),

aged as (
    select
        all_series.*,
        as_of.as_of_date,
        cast(as_of.as_of_date - all_series.last_observation_date as integer) as days_since_observation
    from all_series
    cross join as_of
)

select
    cast(source as varchar)                  as source,
    cast(series_id as varchar)               as series_id,
    cast(concept as varchar)                 as concept,
    cast(title as varchar)                   as title,
    cast(cadence as varchar)                 as cadence,
    cast(is_required as boolean)             as is_required,
    cast(max_stale_days as integer)          as max_stale_days,
    cast(target_unit as varchar)             as target_unit,
    cast(first_observation_date as date)     as first_observation_date,
    cast(last_observation_date as date)      as last_observation_date,
    cast(last_value as double)               as last_value,
    cast(last_known_on as date)              as last_known_on,
    cast(as_of_date as date)                 as as_of_date,
    days_since_observation,
    cast(last_observation_date + max_stale_days + 1 as date) as stale_from_date,
    cast({{ staleness_status('last_observation_date', 'days_since_observation', 'current') }} as varchar)
                                             as status
from aged
