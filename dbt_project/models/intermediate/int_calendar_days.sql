-- Daily calendar spine from var('calendar_start') to the last observation date found in the data
-- (any source). No hard-coded end date: a new load extends the spine by itself.
with data_end as (
    select max(last_date) as end_date
    from (
        select max(observation_date) as last_date from {{ ref('stg_fred__observations') }}
        union all
        select max(observation_date) from {{ ref('stg_fed_ddp__observations') }}
        union all
        select max(observation_date) from {{ ref('stg_treasury_dts__observations') }}
        union all
        select max(observation_date) from {{ ref('stg_coingecko__market_chart') }}
        union all
        select max(observation_date) from {{ ref('stg_coingecko__global') }}
    )
),

spine as (
    select cast(unnest(range(
        cast('{{ var("calendar_start") }}' as timestamp),
        cast(end_date as timestamp) + interval 1 day,
        interval 1 day
    )) as date) as date_day
    from data_end
    where end_date >= cast('{{ var("calendar_start") }}' as date)
)

select
    date_day,
    isodow(date_day)              as iso_day_of_week,
    isodow(date_day) <= 5         as is_weekday,
    cast(date_trunc('quarter', date_day) as date) as quarter_start
from spine
