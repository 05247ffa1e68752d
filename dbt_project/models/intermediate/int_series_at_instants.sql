{#-
  One row per instant and catalog concept: the value AS KNOWN AT that instant (UTC), i.e. the
  latest observation among those with known_at <= instant, known_at being the release instant from
  ingest/calendar.py (H.4.1 Thursday 16:30 ET, SOFR 08:00 ET the next business day, ...). This is
  what the crypto marts join on: a CoinGecko daily point is a 00:00 UTC snapshot, 19:00/20:00 in
  New York the evening before, so a date-level "known by the end of the day" join would hand it a
  release from ~20 hours after its price was taken.

  Instants: every UTC midnight of the calendar spine (the lag scan pairs crypto day t with the
  value known at 00:00 UTC of day t - lead), every crypto observation instant (observed_at), and
  each of those var('lag_days') and var('lag_days') + var('corr_change_days') days earlier (the
  lagged columns of the crypto marts).

  The latest observation date among all rows known by the instant is taken (a running max over
  known_at), so a late-released old observation never replaces a newer one. Staleness is counted
  exactly as in the daily as-known view, in New York calendar days since the release date: NULL
  and 'stale' when (New York date of the instant) - known_on > max_stale_days; 'missing' when
  nothing was known yet. So the value known at an instant is the daily as-known value of that New
  York day minus the releases still to come that day. Same columns as the known_* side of
  int_series_daily, for int_liquidity_measures.
-#}
{%- set lag_days = var('lag_days') | int -%}
{%- set k = var('corr_change_days') | int -%}
with crypto_instants as (
    select distinct observed_at from {{ ref('stg_coingecko__market_chart') }}
    union
    select observed_at from {{ ref('stg_coingecko__global') }}
),

instants as (
    select cast(date_day as timestamp) as observed_at from {{ ref('int_calendar_days') }}
    union
    select observed_at from crypto_instants
    union
    select observed_at - interval ({{ lag_days }}) day from crypto_instants
    union
    select observed_at - interval ({{ lag_days + k }}) day from crypto_instants
),

catalog as (
    select concept, max_stale_days
    from {{ ref('stg_catalog__series') }}
),

observations as (
    select concept, observation_date, value, known_on, known_at
    from {{ ref('int_series_observations') }}
    where concept is not null
),

grid as (
    select instants.observed_at, catalog.concept
    from instants
    cross join catalog
),

{{ release_knowledge('known_at', 'observed_at') }},

joined as (
    select
        by_known.observed_at,
        by_known.concept,
        catalog.max_stale_days,
        known.value                           as known_last_value,
        known.observation_date                as known_observation_date,
        known.known_at,
        -- New York calendar days since the release date, as in int_series_daily
        cast(timezone('America/New_York', timezone('UTC', by_known.observed_at)) as date)
            - known.known_on                  as known_days_since_release
    from by_known
    inner join catalog
        on catalog.concept = by_known.concept
    left join observations as known
        on known.concept = by_known.concept
        and known.observation_date = by_known.latest_known_observation_date
),

classified as (
    select
        *,
        {{ staleness_status('known_observation_date', 'known_days_since_release') }} as known_status
    from joined
)

select
    observed_at,
    concept,
    max_stale_days,
    case when known_status = 'fresh' then known_last_value end as known_value,
    known_status,
    known_observation_date,
    known_at,
    known_days_since_release,
    known_last_value
from classified
