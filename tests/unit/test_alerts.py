"""Run-failure alert: message building, the webhook POST (against a loopback pytest-httpserver), and
the sensor evaluated on a real failed in-process run."""

from __future__ import annotations

import json
import logging

import dagster as dg
import pytest

from orchestration import alerts

TOKEN = "T0KEN-s3cr3t-abc123"


def ours(caplog) -> str:
    """Everything logged, except the loopback test server's own access log (werkzeug)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def test_alert_text_is_one_concise_line():
    text = alerts.alert_text(
        "materialize_everything",
        "abc-123",
        ["raw__fred_observations"],
        "\n  SourceError: fred WALCL: HTTP 503\nmore\n",
    )
    assert text == (
        "Dagster run FAILED: job=materialize_everything run_id=abc-123 "
        "failed_steps=raw__fred_observations error=SourceError: fred WALCL: HTTP 503"
    )
    assert "\n" not in text
    assert "run-level failure" in alerts.alert_text("j", "r", [], None)
    long = alerts.alert_text("j", "r", ["s"], "x" * 5000)
    assert len(long) < 400
    assert "api_key=***" in alerts.alert_text("j", "r", ["s"], "GET https://h/x?api_key=abcdef failed")


def test_payload_shape():
    payload = alerts.alert_payload("job", "run", ["a", "b"], "boom")
    assert set(payload) == {"text", "job", "run_id", "failed_steps"}
    assert payload["failed_steps"] == ["a", "b"] and payload["job"] == "job" and payload["run_id"] == "run"


def test_post_alert_sends_json_and_never_logs_the_token(httpserver, caplog):
    httpserver.expect_request("/hooks/" + TOKEN, method="POST").respond_with_data("ok")
    url = httpserver.url_for("/hooks/" + TOKEN)
    payload = alerts.alert_payload("job", "run", ["step"], "boom")
    with caplog.at_level(logging.DEBUG):
        assert alerts.post_alert(url, payload) is True
    (request, _), *_ = httpserver.log
    assert json.loads(request.get_data()) == payload
    assert request.headers["Content-Type"] == "application/json"
    assert "127.0.0.1" in caplog.text
    assert TOKEN not in ours(caplog)


@pytest.mark.parametrize("status", [404, 500])
def test_post_alert_http_error_is_logged_not_raised(httpserver, caplog, status):
    httpserver.expect_request("/hooks/" + TOKEN).respond_with_data("no", status=status)
    with caplog.at_level(logging.DEBUG):
        assert alerts.post_alert(httpserver.url_for("/hooks/" + TOKEN), {"text": "x"}) is False
    assert f"HTTP {status}" in caplog.text
    assert TOKEN not in ours(caplog)


def test_post_alert_unreachable_is_logged_not_raised(caplog):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    url = f"http://127.0.0.1:9/hooks/{TOKEN}"
    with caplog.at_level(logging.DEBUG):
        assert alerts.post_alert(url, {"text": "x"}) is False
    assert "unreachable" in caplog.text
    assert TOKEN not in ours(caplog)


@dg.op
def _explodes():
    raise ValueError("warehouse exploded\nsecond line of detail")


@dg.op
def _fine():
    return 1


@dg.job
def _tiny_failing_job():
    _fine()
    _explodes()


def test_sensor_on_a_failed_run_logs_and_posts(httpserver, monkeypatch, caplog, capfd):
    httpserver.expect_request("/hooks/" + TOKEN, method="POST").respond_with_data("ok")
    monkeypatch.setenv(alerts.WEBHOOK_ENV, httpserver.url_for("/hooks/" + TOKEN))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _tiny_failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        with caplog.at_level(logging.DEBUG):
            alerts.alert_on_run_failure(context)
    assert len(httpserver.log) == 1
    sent = json.loads(httpserver.log[0][0].get_data())
    assert sent["job"] == "_tiny_failing_job"
    assert sent["run_id"] == result.run_id
    assert sent["failed_steps"] == ["_explodes"]
    assert sent["text"].endswith("error=ValueError: warehouse exploded")
    # The sensor's context.log writes through Dagster's own handler (stderr), not the root logger.
    err = capfd.readouterr().err
    assert sent["text"] in err
    assert "alert sent to webhook 127.0.0.1" in err
    assert TOKEN not in err
    assert TOKEN not in ours(caplog)


def test_sensor_without_webhook_only_logs(monkeypatch, capfd, httpserver):
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _tiny_failing_job.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        capfd.readouterr()
        alerts.alert_on_run_failure(context)
    assert "Dagster run FAILED: job=_tiny_failing_job" in capfd.readouterr().err
    assert httpserver.log == []


def test_sensor_is_registered_and_running_by_default():
    from ingest.settings import PROJECT_ROOT

    if not (PROJECT_ROOT / "dbt_project" / "target" / "manifest.json").exists():
        pytest.skip("dbt manifest missing (orchestration.definitions needs it): run `make prepare`")
    from orchestration.definitions import defs

    sensor = defs.resolve_sensor_def("alert_on_run_failure")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
