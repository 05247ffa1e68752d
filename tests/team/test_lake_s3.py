"""A DuckLake warehouse whose Parquet files live under an `s3://` prefix: moto's S3 server on
127.0.0.1 stands in for the object store. The 2025-11-19 replay publishes the same marts as the
embedded build, every data file is an object in the bucket (none on the local disk), and the S3
secret key reaches no log, metadata, catalog or file."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from bench.mart_hashes import table_hashes
from bench.pg_server import free_port
from ingest import backend
from tests.pipeline_support import run_pipeline, shared_run

pytestmark = pytest.mark.integration
BUCKET = "liquidity-lake"
SECRET_KEY = "s3-Secret-Key-0f1e2d"  # noqa: S105 (moto accepts any key)


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """moto's S3 API in its own process on a free loopback port, with one empty bucket."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.put(f"{url}/{BUCKET}", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto's S3 server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _bucket_keys(url: str) -> list[str]:
    keys, token = [], None
    while True:
        params = {"list-type": "2", **({"continuation-token": token} if token else {})}
        response = requests.get(f"{url}/{BUCKET}", params=params, timeout=10)
        response.raise_for_status()
        body = response.text
        keys += re.findall(r"<Key>([^<]+)</Key>", body)
        match = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", body)
        if not match:
            return keys
        token = match.group(1)


def test_a_lake_on_s3_publishes_the_embedded_marts_and_keeps_its_key_secret(
    s3_endpoint, tmp_path, tmp_path_factory, monkeypatch
):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "liquidity-test",
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    setting = f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}"
    data_path = f"s3://{BUCKET}/lake/"
    data_dir = tmp_path / "data"
    result = run_pipeline(
        data_dir, "2025-11-19", env={"LIQUIDITY_WAREHOUSE": setting, "LIQUIDITY_LAKE_DATA_PATH": data_path}
    )
    logs = "\n".join(f"{e.message or ''}\n{e!r}" for e in result.all_events)
    assert result.success, logs[-3000:]

    # Every data file is an object under the prefix; nothing went to a local lake folder.
    parquet = [k for k in _bucket_keys(s3_endpoint) if k.endswith(".parquet")]
    assert parquet and all(k.startswith("lake/") for k in parquet)
    assert {k.split("/")[1] for k in parquet} >= {"raw", "marts", "serving"}
    assert not (data_dir / "lake").exists()
    with backend.parse(setting, data_path=data_path).open(read_only=True) as con:
        files = con.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'liquidity_daily', schema => 'marts')"
        )
        assert all(f.startswith(data_path) for (f,) in files.fetchall())

    # The same marts as the embedded build of the same snapshot, in the lake and as published.
    embedded = shared_run(tmp_path_factory, "2025-11-19")
    want = table_hashes(str(embedded / "warehouse.duckdb"), ("marts",))
    assert table_hashes(setting, ("marts",), data_path=data_path) == want
    served = table_hashes(setting, ("serving",), data_path=data_path)
    assert {k.replace("serving.", "marts."): v for k, v in served.items()} == want

    # The secret key: in no event (messages, metadata, failures), in no file of the data dir or catalog.
    assert SECRET_KEY not in logs
    leaked = [
        p
        for p in [*data_dir.rglob("*"), tmp_path / "catalog.sqlite"]
        if p.is_file() and p.stat().st_size < 50_000_000 and SECRET_KEY.encode() in p.read_bytes()
    ]
    assert not leaked, leaked


def test_an_s3_data_path_without_credentials_is_a_setting_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LIQUIDITY_WAREHOUSE", f"ducklake:sqlite:{tmp_path / 'c.sqlite'}")
    monkeypatch.setenv("LIQUIDITY_LAKE_DATA_PATH", f"s3://{BUCKET}/lake/")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    problem = backend.configuration_problem()
    assert problem and "needs AWS_ACCESS_KEY_ID" in problem and SECRET_KEY not in problem


def test_the_s3_secret_follows_the_aws_variables():
    sql = backend.s3_secret_sql(
        {
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "it's",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert "KEY_ID 'k'" in sql and "SECRET 'it''s'" in sql
    assert "ENDPOINT '127.0.0.1:9000'" in sql and "URL_STYLE 'path'" in sql and "USE_SSL false" in sql
    aws = backend.s3_secret_sql(
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"}
    )
    assert "REGION 'eu-west-1'" in aws and "ENDPOINT" not in aws
