{#-
  The int_liquidity_known_at column that crypto_vs_liquidity and liquidity_lag_scan lag, chosen by
  var('net_liquidity_definition'):
    weekly  net_liquidity_bn        WALCL - WTREGEN (TGA week average) - RRPONTSYD
    daily   net_liquidity_daily_bn  WALCL - DTS TGA closing balance of the day - RRPONTSYD
  Anything else stops compilation with a message instead of silently picking one.
-#}
{% macro net_liquidity_column() %}
    {%- set columns = {'weekly': 'net_liquidity_bn', 'daily': 'net_liquidity_daily_bn'} -%}
    {%- set chosen = var('net_liquidity_definition') -%}
    {%- if chosen not in columns -%}
        {{ exceptions.raise_compiler_error(
            "var net_liquidity_definition must be 'weekly' or 'daily', not '" ~ chosen ~ "'") }}
    {%- endif -%}
    {{ return(columns[chosen]) }}
{% endmacro %}
