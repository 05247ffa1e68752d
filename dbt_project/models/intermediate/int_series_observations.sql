-- Every catalogued observation (FRED, Fed DDP, Treasury DTS) in one long table, target units.
select
    source, concept, series_id, observation_date, value, target_unit, cadence, dating,
    known_on, known_at, max_stale_days
from {{ ref('stg_fred__observations') }}
union all
select
    source, concept, series_id, observation_date, value, target_unit, cadence, dating,
    known_on, known_at, max_stale_days
from {{ ref('stg_fed_ddp__observations') }}
union all
select
    source, concept, series_id, observation_date, value, target_unit, cadence, dating,
    known_on, known_at, max_stale_days
from {{ ref('stg_treasury_dts__observations') }}
