"""Each page's content over the home a real pipeline run filled (conftest.py), in-process."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest

from scones.config import Settings
from scones.console import create_app
from scones.storage import Store
from tests.console._client import LOCAL, TestClient
from tests.console.conftest import COLOURS, REAL_HYPERPARAMETERS, REAL_JOB, Pipeline
from tests.helpers import png_bytes


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(pipeline.settings, pipeline.token, background_index=False), base_url=LOCAL) as c:
        c.headers["Authorization"] = f"Bearer {pipeline.token}"
        yield c


def _csrf(client: TestClient) -> str:
    token: str = client.app.state.csrf  # type: ignore[attr-defined]
    return token


def test_overview_counts_everything(client: TestClient) -> None:
    text = client.get("/").text
    assert "healthy" in text  # the endpoint answered /ping
    assert re.search(r"FAILED</span></a> \d", text) and "SUCCEEDED" in text
    assert "below 93%" in text


def test_executions_filter_by_status(client: TestClient, pipeline: Pipeline) -> None:
    failed = client.get("/executions?status=FAILED").text
    assert "ThresholdConfidenceNotMet" in failed and "SUCCEEDED</span>" not in failed
    grey = pipeline.executions["data/test/grey.png"].rsplit(":", 1)[1]
    red = pipeline.executions["data/test/red.png"].rsplit(":", 1)[1]
    assert grey in failed and red not in failed
    assert "<code>data/test/grey.png</code>" in failed
    assert red in client.get("/executions?status=SUCCEEDED&machine=pipeline").text


def test_execution_detail_shows_each_steps_input_and_output(client: TestClient, pipeline: Pipeline) -> None:
    text = html.unescape(client.get(f"/executions/{pipeline.executions['data/test/grey.png']}").text)
    assert 'data-state="filterInferences" data-outcome="failed"' in text
    assert 'data-state="classify" data-outcome="succeeded"' in text
    assert "ThresholdConfidenceNotMet" in text
    assert '"s3_key": "data/test/grey.png"' in text  # the execution's input
    assert re.search(r'"inferences": \[\s+0\.5\d*,\s+0\.5', text)  # classify's output, filter's input
    assert "ExecutionFailed" in text and "TaskStateEntered" in text  # the raw event history


def test_captured_data_filters_and_images(client: TestClient, pipeline: Pipeline) -> None:
    everything = client.get("/captured").text
    low = client.get("/captured?low=1").text
    assert everything.count("<li") > low.count("<li") > 0
    assert 'class="low"' in low and "50.0%" in low  # the grey image
    bikes = client.get("/captured?class=bicycle").text
    assert "<strong>motorcycle</strong>" not in bikes and "<strong>bicycle</strong>" in bikes
    assert "No captured records match" in client.get("/captured?since=2999-01-01T00:00").text
    first = re.search(r'src="/captured/(\d+)/image"', everything)
    assert first is not None
    image = client.get(f"/captured/{first.group(1)}/image")
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    assert image.headers["x-content-type-options"] == "nosniff"
    detail = client.get(f"/captured/{first.group(1)}").text
    assert "data_capture/" in detail and "Probability" in detail and "Event id" in detail


def test_endpoint_detail_shows_config_and_live_traffic(client: TestClient, pipeline: Pipeline) -> None:
    text = client.get(f"/endpoints/{pipeline.endpoint}").text
    assert "InService" in text and "s3://scones/data_capture" in text and "bicycle, motorcycle" in text
    live = client.get(f"/endpoints/{pipeline.endpoint}/live.json").json()
    assert live["requests_total"] >= len(pipeline.executions) and live["errors_total"] == 0
    assert live["capture_written"] >= len(pipeline.executions)


def test_the_upload_form_classifies_an_image(client: TestClient, pipeline: Pipeline) -> None:
    url = f"/endpoints/{pipeline.endpoint}/invoke"
    files = {"image": ("blue.png", png_bytes(COLOURS["blue.png"]), "image/png")}
    result = client.post(url, data={"csrf": _csrf(client)}, files=files)
    assert result.status_code == 200
    assert re.search(r'<span class="prediction">motorcycle</span> with confidence 100\.0%', result.text)
    unsure = client.post(url, data={"csrf": _csrf(client)}, files={"image": ("g.png", png_bytes(COLOURS["grey.png"]))})
    assert "below</span> the 93% threshold" in unsure.text
    forged = client.post(url, data={"csrf": "forged"}, files=files)
    assert forged.status_code == 403 and "expired" in forged.text
    junk = client.post(url, data={"csrf": _csrf(client)}, files={"image": ("x.png", b"not an image", "image/png")})
    assert junk.status_code == 400 and "400" in junk.text  # the endpoint's ValidationError, shown on the page


def test_models_show_which_endpoint_serves_them(client: TestClient, pipeline: Pipeline) -> None:
    text = client.get("/models").text
    assert "tiny-test-model" in text and f'href="/endpoints/{pipeline.endpoint}"' in text


def test_training_job_detail_has_hyperparameters_and_the_accuracy_chart(client: TestClient) -> None:
    assert "tiny-test-model" in client.get("/training-jobs?status=Completed").text
    text = client.get("/training-jobs/tiny-test-model").text
    assert text.count("<polyline") == 2 and "kept epoch 2" in text
    assert "<code>num_layers</code>" in text


def test_training_pages_show_a_job_that_really_ran(client: TestClient, pipeline: Pipeline) -> None:
    from scones.model import jobs

    pipeline.training.wait()
    record = jobs.describe(pipeline.settings, REAL_JOB)
    assert record["status"] == "Completed"
    assert f'href="/training-jobs/{REAL_JOB}"' in client.get("/training-jobs?status=Completed").text
    text = client.get(f"/training-jobs/{REAL_JOB}").text
    epochs = record["metrics"]["epochs"]
    assert len(epochs) == REAL_HYPERPARAMETERS["epochs"]
    assert text.count("<polyline") == 2  # train and validation accuracy, drawn from the recorded epochs
    table = text[text.index("<summary>Per-epoch table</summary>") :].split("</table>")[0]
    assert table.count("<tr>") == len(epochs) + 1  # a header row and one per epoch the job recorded
    hyperparameters = dict(re.findall(r"<dt><code>([^<]+)</code></dt><dd>([^<]*)</dd>", text))
    for key, value in REAL_HYPERPARAMETERS.items():
        assert hyperparameters[key] == str(value), key
    assert html.escape(record["artifact_uri"]) in text


def test_monitoring_run_shows_violations_and_pictures(client: TestClient, pipeline: Pipeline) -> None:
    pipeline.monitoring.wait()
    listing = client.get("/monitoring").text
    run = re.search(r'href="/monitoring/([^"]+)"', listing)
    assert run is not None
    text = client.get(f"/monitoring/{run.group(1)}").text
    # What the run wrote, read from the store directly: the page must show exactly that.
    store = Store(pipeline.settings)
    written = [o.key for o in store.list(pipeline.settings.bucket, "") if o.key.endswith("constraint_violations.json")]
    assert len(written) == 1, written
    violations = json.loads(store.get(pipeline.settings.bucket, written[0]))["violations"]
    section = text[text.index('<h2 id="v-h">Violations</h2>') :].split("</section>")[0]
    shown = re.findall(r"<tr><td><code>([^<]+)</code></td><td>([^<]+)</td>", section)
    assert shown == [(html.escape(v["feature_name"]), html.escape(v["constraint_check_type"])) for v in violations]
    assert ("No violations: the window matches the baseline." in section) == (not violations)
    pictures = re.findall(r'<img class="report" src="(/store/[^"]+\.png)"', text)
    assert pictures
    picture = client.get(pictures[0])
    assert picture.headers["content-type"] == "image/png"
    assert "default-src 'none'" in picture.headers["content-security-policy"]
    report = re.search(r'href="(/store/[^"]+\.html)"', text)
    assert report is not None
    assert client.get(report.group(1)).headers["content-disposition"].startswith("attachment")


def test_starting_an_execution_with_bad_input_says_why(client: TestClient) -> None:
    page = client.get("/state-machines/pipeline").text
    assert "data/test/" in page  # the form is prefilled with a staged test image
    response = client.post("/state-machines/pipeline/start", data={"csrf": _csrf(client), "input": "{oops"})
    assert response.status_code == 400 and "not valid JSON" in response.text


def test_deleting_an_endpoint_needs_its_name_typed(settings: Settings) -> None:
    from scones.endpoint import registry
    from scones.endpoint.service import EndpointConfig
    from scones.storage import Store
    from tests.helpers import tiny_artifact

    Store(settings).put(settings.bucket, "models/t/output/model.tar.gz", tiny_artifact().pack())
    registry.deploy(
        settings, EndpointConfig(name="doomed", port=0), f"s3://{settings.bucket}/models/t/output/model.tar.gz"
    )
    try:
        with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as c:
            assert "Type <code>doomed</code> to confirm" in c.get("/endpoints/doomed/delete").text
            wrong = c.post("/endpoints/doomed/delete", data={"csrf": _csrf(c), "confirm": "doome"})
            assert wrong.status_code == 400 and registry.describe(settings, "doomed").status == "InService"
            done = c.post("/endpoints/doomed/delete", data={"csrf": _csrf(c), "confirm": "doomed"})
            assert done.status_code == 200 and "Deleted endpoint doomed" in done.text
            assert registry.list_endpoints(settings) == []
    finally:
        if registry.list_endpoints(settings):
            registry.delete(settings, "doomed")


def test_the_endpoint_page_shows_variants_and_deployments(settings: Settings) -> None:
    from contextlib import closing
    from dataclasses import replace

    from scones.endpoint import table
    from tests.helpers import register_endpoint

    variants = [
        {"name": "Blue", "model": "/m/a.tar.gz", "weight": 0.7, "model_sha256": "a", "shadow": False},
        {"name": "Peek", "model": "/m/b.tar.gz", "weight": 1.0, "model_sha256": "b", "shadow": True},
    ]
    register_endpoint(settings, "guarded", "http://127.0.0.1:9", config={"variants": variants, "variant": "Blue"})
    figures = {"candidate": {"low_confidence_rate": 0.98}, "old": {"low_confidence_rate": 0.01}}
    rolled = {"phase": "RolledBack", "at": "2026-01-01T00:00:02.000Z", "trigger": "low_confidence", "figures": figures}
    record = table.DeploymentRecord(
        id="d1", name="guarded", strategy="canary", status="RolledBack", model="/m/c.tar.gz", previous=variants,
        phases=[{"phase": "Started", "at": "2026-01-01T00:00:00.000Z"}, rolled],
        created="2026-01-01T00:00:00.000Z", updated="2026-01-01T00:00:02.000Z",
    )  # fmt: skip
    interrupted = {"phase": "RolledBack", "at": "2026-01-02T00:00:09.000Z", "trigger": "interrupted",
                   "figures": {"dead_pid": 4242, "interrupted_in": "Canary"}}  # fmt: skip
    killed = replace(record, id="d2", created="2026-01-02T00:00:00.000Z", phases=[
        {"phase": "Started", "at": "2026-01-02T00:00:00.000Z"},
        {"phase": "Canary", "at": "2026-01-02T00:00:01.000Z", "candidate_percent": 25.0}, interrupted,
    ])  # fmt: skip
    scaled = table.ScalingEvent("guarded", 77, "2026-01-02T00:01:00.000Z", 1, 3,
                                {"invocations_per_worker_per_minute": 5123.4, "target": 600.0,
                                 "reason": "above target for 30 s"})  # fmt: skip
    with closing(table.connect(settings)) as conn:
        table.put_deployment(conn, record)
        table.put_deployment(conn, killed)
        table.add_scaling_event(conn, scaled)
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as c:
        page = c.get("/endpoints/guarded").text
    assert "<td>Peek</td><td>shadow</td>" in page and "<td>Blue</td><td>production</td>" in page
    assert (
        'Started → RolledBack (<strong class="trigger">low_confidence</strong>; candidate: low confidence rate 0.98; '
        "old: low confidence rate 0.01)" in page
    )
    assert (
        'Started → Canary 25.0% → RolledBack (<strong class="trigger">interrupted</strong>; dead_pid: 4242; '
        "interrupted_in: Canary)" in page
    )
    assert "/m/c.tar.gz" in page
    assert '<td class="num">1 → 3</td>' in page and "5123.4" in page and "above target for 30 s" in page


def test_the_model_registry_page(settings: Settings) -> None:
    from scones.model import packages
    from scones.storage import Store
    from tests.helpers import stage_colours, tiny_artifact

    stage_colours(Store(settings))
    Store(settings).put(settings.bucket, "m/a.tar.gz", tiny_artifact().pack())
    packages.register(settings, f"s3://{settings.bucket}/m/a.tar.gz")
    packages.set_status(settings, "bike-moto", 1, "Approved", "shipped it")
    with TestClient(create_app(settings, None, background_index=False), base_url=LOCAL) as c:
        assert 'href="/model-packages"' in c.get("/models").text
        page = c.get("/model-packages").text
    assert "bike-moto/1" in page and "Approved" in page and "shipped it" in page
    assert "bicycle 1" in page  # the recorded evaluation: precision / recall per class
    assert f"s3://{settings.bucket}/model-packages/bike-moto/1/model.tar.gz" in page
