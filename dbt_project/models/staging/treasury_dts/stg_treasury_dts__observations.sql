-- The daily TGA closing balance from the Daily Treasury Statement in the catalog's target unit
-- (USD billions), one row per record date, shaped like the FRED and DDP staging models so it joins
-- the same as-of machinery (series DTS_TGA_CLOSE, concept tga_daily).
{{ scaled_observations(
    'treasury_dts',
    relation="(select series_id, observation_date, tga_close_millions as value, known_on, known_at, tga_label_era from "
        ~ ref('stg_treasury_dts__cash_balance') ~ ")",
    where="series_id is not null",
    extra_columns=['tga_label_era'],
) }}
