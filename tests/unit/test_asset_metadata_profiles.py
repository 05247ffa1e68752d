"""The headline/preview profiles (orchestration/asset_metadata.py) name real columns of real tables:
raw columns from the DDL, mart columns from the dbt contracts (manifest). No database is opened."""

from __future__ import annotations

import pytest

from ingest import quality
from orchestration.asset_metadata import markdown_table, profiles


def referenced_columns(profile) -> set[str]:
    columns = {profile.date, *profile.preview, *(h.column for h in profile.headlines)}
    return columns | set(profile.date_range or ())


def mart_columns() -> dict[str, set[str]]:
    from orchestration.assets.dbt import dbt_models

    return {
        key.to_user_string(): {c.name for c in spec.metadata["dagster/column_schema"].columns}
        for key, spec in dbt_models.specs_by_key.items()
        if key.path[0] == "marts"
    }


def test_every_mart_has_a_profile_and_every_profile_a_table():
    marts = mart_columns()
    mart_profiles = {k for k in profiles() if k.startswith("marts/")}
    assert mart_profiles == set(marts)


@pytest.mark.parametrize("key", sorted(profiles()))
def test_profile_columns_exist(key):
    profile = profiles()[key]
    if key.startswith("raw/"):
        columns = {c for c, _ in quality.expected_columns()[profile.table]}
    else:
        columns = mart_columns()[key]
    assert referenced_columns(profile) <= columns, referenced_columns(profile) - columns
    assert profile.table == key.replace("/", ".")


def test_markdown_table_escapes_cells_and_formats_numbers():
    import datetime as dt

    text = markdown_table(
        ["a", "b", "c", "d"],
        [(1234567.891, 0.000123456, None, "x|y"), (dt.date(2026, 1, 2), 12.5, True, "z")],
    )
    assert text.splitlines() == [
        "| a | b | c | d |",
        "|---|---|---|---|",
        "| 1,234,567.89 | 0.000123456 |  | x\\|y |",
        "| 2026-01-02 | 12.5 | True | z |",
    ]
    assert markdown_table(["a"], []) == "(no rows)"


def test_groups_lay_out_the_graph_in_layer_order():
    """ingest -> staging -> intermediate -> marts -> serving -> report: every asset is in one of these
    groups and no dependency points back to an earlier group."""
    from orchestration.definitions import defs

    order = ["ingest", "staging", "intermediate", "marts", "serving", "report"]
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    group = {key: graph.get(key).group_name for key in keys}
    assert set(group.values()) == set(order)
    backward = [
        (parent.to_user_string(), key.to_user_string())
        for key in keys
        for parent in graph.get(key).parent_keys
        if parent in group and order.index(group[parent]) > order.index(group[key])
    ]
    assert backward == []
    assert all(graph.get(key).description for key in keys)
