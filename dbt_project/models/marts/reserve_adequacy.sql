{#-
  One row per calendar quarter (from var('calendar_start') to the last quarter with reserve data):
  what it takes to hold reserves at var('reserves_gdp_target_pct') % of nominal GDP.
    reserves_avg_bn          quarter AVERAGE of the weekly WRESBAL observations dated in the quarter
                             (WRESBAL is itself a week average); the primary reserves measure here
    reserves_quarter_end_bn  the last weekly observation dated in the quarter (for reference)
    gdp_bn                   nominal GDP, SAAR, of the quarter (NULL until BEA publishes it)
    reserves_needed_bn       gdp_bn * target / 100
    shortfall_or_excess_bn   reserves_avg_bn - reserves_needed_bn (negative = shortfall)
    gdp_growth_yoy_pct       trailing annual GDP growth: gdp_bn / gdp 4 quarters earlier - 1, in %
    reserve_growth_needed_bn_per_yr  how much the target level rises in a year if GDP keeps growing
                             at the trailing rate (= reserves_needed_bn * growth): the yearly
                             reserve growth needed to hold the target share
    reserve_growth_needed_pct_per_yr the same in percent of the target level (= GDP growth)
    reserve_change_to_target_1y_bn / _pct  the change from today's reserves needed to be at the
                             target share one year ahead (GDP grown at the trailing rate)
-#}
{%- set target = var('reserves_gdp_target_pct') -%}
with observations as (
    select concept, observation_date, value
    from {{ ref('int_series_observations') }}
    where concept in ('gdp', 'reserves')
),

gdp as (
    select observation_date as quarter_start, value as gdp_bn
    from observations
    where concept = 'gdp'
),

gdp_growth as (
    select
        gdp.quarter_start,
        gdp.gdp_bn,
        year_ago.gdp_bn as gdp_year_ago_bn
    from gdp
    left join gdp as year_ago
        on year_ago.quarter_start = cast(gdp.quarter_start - interval 1 year as date)
),

reserves as (
    select
        cast(date_trunc('quarter', observation_date) as date) as quarter_start,
        avg(value)                                            as reserves_avg_bn,
        arg_max(value, observation_date)                      as reserves_quarter_end_bn,
        max(observation_date)                                 as last_reserves_date,
        count(*)                                              as n_reserve_obs
    from observations
    where concept = 'reserves'
    group by 1
),

last_reserves as (
    select max(observation_date) as last_date from observations where concept = 'reserves'
),

quarters as (
    select
        reserves.*,
        cast(reserves.quarter_start + interval 3 month - interval 1 day as date) as quarter_end
    from reserves
    where reserves.quarter_start >= cast(date_trunc('quarter', cast('{{ var("calendar_start") }}' as date)) as date)
),

computed as (
    select
        quarters.quarter_start,
        quarters.quarter_end,
        quarters.quarter_end <= (select last_date from last_reserves) as is_complete_quarter,
        gdp_growth.gdp_bn,
        (gdp_growth.gdp_bn / nullif(gdp_growth.gdp_year_ago_bn, 0) - 1) as gdp_growth,
        quarters.reserves_avg_bn,
        quarters.reserves_quarter_end_bn,
        quarters.n_reserve_obs,
        gdp_growth.gdp_bn * {{ target }} / 100 as reserves_needed_bn
    from quarters
    left join gdp_growth using (quarter_start)
)

select
    quarter_start,
    quarter_end,
    is_complete_quarter,
    round(gdp_bn, 3)                                                   as gdp_bn,
    round(gdp_growth * 100, 4)                                         as gdp_growth_yoy_pct,
    round(reserves_avg_bn, 3)                                          as reserves_avg_bn,
    round(reserves_quarter_end_bn, 3)                                  as reserves_quarter_end_bn,
    cast(n_reserve_obs as integer)                                     as n_reserve_obs,
    round(reserves_avg_bn / nullif(gdp_bn, 0) * 100, 4)                as reserves_to_gdp_pct,
    cast({{ target }} as double)                                       as target_reserves_to_gdp_pct,
    round(reserves_needed_bn, 3)                                       as reserves_needed_bn,
    round(reserves_avg_bn - reserves_needed_bn, 3)                     as shortfall_or_excess_bn,
    round(reserves_needed_bn * gdp_growth, 3)                          as reserve_growth_needed_bn_per_yr,
    round(gdp_growth * 100, 4)                                         as reserve_growth_needed_pct_per_yr,
    round(reserves_needed_bn * (1 + gdp_growth) - reserves_avg_bn, 3)  as reserve_change_to_target_1y_bn,
    round((reserves_needed_bn * (1 + gdp_growth) / nullif(reserves_avg_bn, 0) - 1) * 100, 4)
                                                                       as reserve_change_to_target_1y_pct
from computed
