-- Fed DDP (H.4.1, H.8) observations in target units (USD billions), one row per series and date.
-- Raw values are USD with the DDP multiplier applied; the catalog's scale (1e-9) makes billions.
{{ scaled_observations('fed_ddp', 'fed_ddp_observations', extra_columns=['release']) }}
