-- The calendar spine is gap-free (liquidity_daily's 7- and 91-day changes use row offsets).
select date_day, next_day
from (
    select date_day, lead(date_day) over (order by date_day) as next_day
    from {{ ref('int_calendar_days') }}
)
where next_day is not null and next_day <> date_day + 1
