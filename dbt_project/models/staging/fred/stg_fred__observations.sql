-- FRED observations in target units (USD billions or percent), one row per series and date.
-- Published units vary by series (WALCL millions, RRPONTSYD billions, SOFR percent): see the catalog.
{{ scaled_observations('fred', 'fred_observations') }}
