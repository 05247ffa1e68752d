-- Every DTS record date has exactly one TGA closing balance. A fourth relabelling of Table I would
-- otherwise drop days silently (the daily columns would go NULL with no reason given).
select observation_date, count(tga_close_millions) as tga_rows
from {{ ref('stg_treasury_dts__cash_balance') }}
group by observation_date
having count(tga_close_millions) <> 1
