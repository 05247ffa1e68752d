{#-
  One row per calendar day and catalog concept, with two as-of views side by side:

  observation-date view (obs_*): the latest observation with observation_date <= day. This is the
    contract of liquidity_daily: "a weekly value holds from its own date until the next
    observation". It uses values before they were public (a Wednesday H.4.1 level on Wednesday).

  as-known view (known_*): the latest observation whose known_on <= day, i.e. what an analyst
    could have known at the end of that US-Eastern day. A delayed release (known_on later than
    usual) is simply not used until its known_on. The latest *observation date* among all known
    rows is taken (a running max over known_on), so a late-released old observation can never
    replace a newer one.

  Staleness (catalog max_stale_days; 13 weekly, 4 daily, 270 GDP): past the limit the value is
  NULL and the status says 'stale'; 'missing' means no observation at all up to that day.
    obs view:   stale when day - observation_date > max_stale_days
    known view: stale when day - known_on        > max_stale_days (time since the value was
                released, so a normal release lag, e.g. nine days for H.8, is not counted)
  Both use DuckDB ASOF joins.
-#}
with calendar as (
    select date_day from {{ ref('int_calendar_days') }}
),

catalog as (
    select concept, cadence, max_stale_days
    from {{ ref('stg_catalog__series') }}
),

observations as (
    select concept, observation_date, value, known_on
    from {{ ref('int_series_observations') }}
    where concept is not null
),

grid as (
    select calendar.date_day, catalog.concept, catalog.cadence, catalog.max_stale_days
    from calendar
    cross join catalog
),

by_observation_date as (
    select
        grid.date_day,
        grid.concept,
        observations.observation_date,
        observations.value
    from grid
    asof left join observations
        on grid.concept = observations.concept
        and grid.date_day >= observations.observation_date
),

{{ release_knowledge('known_on', 'date_day') }},

joined as (
    select
        grid.date_day,
        grid.concept,
        grid.cadence,
        grid.max_stale_days,
        by_observation_date.value                            as obs_last_value,
        by_observation_date.observation_date                 as obs_observation_date,
        grid.date_day - by_observation_date.observation_date as obs_age_days,
        known.value                                          as known_last_value,
        known.observation_date                               as known_observation_date,
        known.known_on                                       as known_on,
        grid.date_day - known.observation_date               as known_age_days,
        grid.date_day - known.known_on                       as known_days_since_release
    from grid
    left join by_observation_date
        on by_observation_date.date_day = grid.date_day
        and by_observation_date.concept = grid.concept
    left join by_known
        on by_known.date_day = grid.date_day
        and by_known.concept = grid.concept
    left join observations as known
        on known.concept = grid.concept
        and known.observation_date = by_known.latest_known_observation_date
),

classified as (
    select
        *,
        {{ staleness_status('obs_observation_date', 'obs_age_days') }} as obs_status,
        {{ staleness_status('known_observation_date', 'known_days_since_release') }} as known_status
    from joined
)

select
    date_day,
    concept,
    cadence,
    max_stale_days,
    case when obs_status = 'fresh' then obs_last_value end     as obs_value,
    obs_status,
    obs_observation_date,
    obs_age_days,
    obs_last_value,
    case when known_status = 'fresh' then known_last_value end as known_value,
    known_status,
    known_observation_date,
    known_on,
    known_age_days,
    known_days_since_release,
    known_last_value
from classified
