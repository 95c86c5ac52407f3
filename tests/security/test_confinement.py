"""Issue 19: what a request may read and write (confinement.confine) and who may call (app.py's
Host/Origin check), each reproduction through the client an attacker would use against a live
server with an API key: httpx with raw headers, boto3. Outside the registered roots sit decoy
folders whose contents must come through untouched."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import liveserver
import pytest

KEY = "confinement-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def roots(tmp_path, monkeypatch) -> Path:
    """One registered data root; everything else under tmp_path (the decoys) is outside it."""
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("SPRINGBOARD_DATA_ROOTS", str(root))
    return root


@pytest.fixture
def decoy(tmp_path) -> Path:
    folder = tmp_path / "decoy"
    folder.mkdir()
    (folder / "secret.jsonl").write_text('{"prompt": "secret", "completion": "data"}\n')
    return folder


@pytest.fixture
def server(sb_home, roots) -> Iterator[liveserver.LiveServer]:
    live = liveserver.start(api_key=KEY)
    yield live
    live.stop()


def post(server, path: str, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers={**AUTH, **headers}, timeout=60)


def refused(r: httpx.Response, setting: str = "SPRINGBOARD_DATA_ROOTS") -> str:
    assert r.status_code == 403, (r.status_code, r.text)
    message = r.json()["message"]
    assert setting in message
    return message


@pytest.fixture
def web(tmp_path) -> Iterator[str]:
    """A plain HTTP server on loopback (what an SSRF would reach): serves tmp_path/web."""
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "data.jsonl").write_text('{"q": "internal", "a": "answer"}\n')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


# -- Studio routes -----------------------------------------------------------------------------------


def test_crawl_run_with_an_output_outside_the_roots_is_refused_and_no_job_exposes_it(server):
    r = post(server, "/studio/api/crawl/runs", {"name": "c2", "inputs": ["/nonexistent/x.warc.gz"], "output": "/etc"})
    assert "field 'output'" in refused(r)
    assert httpx.get(server.url + "/studio/api/jobs/c2/files", headers=AUTH).status_code == 404
    assert httpx.get(server.url + "/studio/api/jobs/c2/files/passwd", headers=AUTH).status_code == 404


def test_crawl_run_overwrite_outside_the_roots_deletes_nothing(server, decoy):
    r = post(server, "/studio/api/crawl/runs", {"name": "c3", "inputs": ["/nonexistent/x.warc.gz"],
                                                "output": str(decoy), "overwrite": True})
    refused(r)
    # `..` is resolved before the check: a path that starts inside the root does not escape it
    root = Path(os.environ["SPRINGBOARD_DATA_ROOTS"])
    r = post(server, "/studio/api/crawl/runs", {"name": "c4", "inputs": ["/nonexistent/x.warc.gz"],
                                                "output": f"{root}/../decoy", "overwrite": True})
    refused(r)
    assert (decoy / "secret.jsonl").exists()


def test_crawl_inputs_and_records_outside_the_roots_are_refused(server, decoy, roots):
    r = post(server, "/studio/api/crawl/runs", {"name": "c5", "inputs": [str(decoy / "*.jsonl")],
                                                "output": str(roots / "out")})
    assert "inputs[0]" in refused(r)
    r = post(server, "/studio/api/crawl/runs", {"name": "c6", "records": str(decoy / "secret.jsonl"),
                                                "output": str(roots / "out")})
    assert "records" in refused(r)
    # a folder under the root holding a link to a decoy file: what the job would open is checked
    (roots / "archives").mkdir()
    (roots / "archives" / "x.warc.gz").symlink_to(decoy / "secret.jsonl")
    r = post(server, "/studio/api/crawl/runs", {"name": "c7", "inputs": [str(roots / "archives")],
                                                "output": str(roots / "out")})
    refused(r)


def test_job_files_are_served_only_inside_the_roots(server, roots, decoy, monkeypatch):
    out = roots / "crawl-out"
    out.mkdir()
    (out / "part-0.txt").write_text("ours")
    (out / "passwd").symlink_to(decoy / "secret.jsonl")  # a link inside the output pointing out
    r = post(server, "/studio/api/crawl/runs", {"name": "c8", "inputs": [str(roots / "missing.warc.gz")],
                                                "output": str(out)})
    assert r.status_code == 201, r.text
    assert httpx.get(server.url + "/studio/api/jobs/c8/files/part-0.txt", headers=AUTH).text == "ours"
    refused(httpx.get(server.url + "/studio/api/jobs/c8/files/passwd", headers=AUTH))
    # the roots narrowed after the job was made (or a job the CLI made elsewhere): not listed
    monkeypatch.setenv("SPRINGBOARD_DATA_ROOTS", str(roots / "elsewhere"))
    refused(httpx.get(server.url + "/studio/api/jobs/c8/files", headers=AUTH))
    refused(httpx.get(server.url + "/studio/api/jobs/c8/files/part-0.txt", headers=AUTH))


def test_dataset_source_outside_the_roots_is_refused(server, roots, decoy):
    refused(post(server, "/studio/api/datasets", {"source": str(decoy)}))
    refused(post(server, "/studio/api/datasets", {"source": f"file://{decoy}/secret.jsonl"}))
    (roots / "link").symlink_to(decoy)  # symlinks are resolved before the check
    refused(post(server, "/studio/api/datasets", {"source": str(roots / "link")}))
    (roots / "mine").mkdir()
    (roots / "mine" / "train.jsonl").write_text('{"q": 1}\n')
    (roots / "mine" / "leak.jsonl").symlink_to(decoy / "secret.jsonl")  # a link inside a folder under the root
    r = post(server, "/studio/api/datasets", {"source": str(roots / "mine")})
    assert r.status_code == 201 and r.json()["files"] == ["train.jsonl"]  # copied without the link's target


def test_dataset_source_from_http_needs_the_setting(server, web, monkeypatch):
    """SSRF: the server fetches no URL unless SPRINGBOARD_ALLOW_HTTP lists its prefix."""
    refused(post(server, "/studio/api/datasets", {"source": f"{web}/data.jsonl"}), "SPRINGBOARD_ALLOW_HTTP")
    monkeypatch.setenv("SPRINGBOARD_ALLOW_HTTP", f"{web}/other/")
    refused(post(server, "/studio/api/datasets", {"source": f"{web}/data.jsonl"}), "SPRINGBOARD_ALLOW_HTTP")
    monkeypatch.setenv("SPRINGBOARD_ALLOW_HTTP", f"{web}/")
    r = post(server, "/studio/api/datasets", {"source": f"{web}/data.jsonl"})
    assert r.status_code == 201, r.text
    assert (Path(r.json()["path"]) / "data.jsonl").read_text().startswith('{"q": "internal"')


def test_template_preview_reads_an_allowed_http_url_once_prefixed(server, web, monkeypatch):
    body = {"template": json.dumps({"prompt": "Q: {q}", "completion": "{a}"}), "data": f"{web}/data.jsonl"}
    refused(post(server, "/studio/api/template/preview", body), "SPRINGBOARD_ALLOW_HTTP")
    monkeypatch.setenv("SPRINGBOARD_ALLOW_HTTP", "*")
    r = post(server, "/studio/api/template/preview", body)
    assert r.status_code == 200, r.text  # was a 400 for "http://http://127.0.0.1..."
    assert r.json()["examples"][0]["prompt"] == "Q: internal"


def test_template_preview_and_rouge_read_only_inside_the_roots(server, decoy):
    body = {"template": json.dumps({"prompt": "{prompt}", "completion": "{completion}"}), "data": str(decoy)}
    refused(post(server, "/studio/api/template/preview", body))
    r = post(server, "/studio/api/evaluate/rouge", {"predictions": [str(decoy / "secret.jsonl")],
                                                    "references": str(decoy / "secret.jsonl")})
    refused(r)


def test_index_query_never_overwrites_a_file(server, roots, decoy):
    target = decoy / "secret.jsonl"
    r = post(server, "/studio/api/crawl/index-query", {"index": str(roots / "index"), "out": str(target)})
    assert "field 'out'" in refused(r)
    assert target.read_text().startswith('{"prompt": "secret"')
    mine = roots / "records.parquet"
    mine.write_text("keep")
    r = post(server, "/studio/api/crawl/index-query", {"index": str(roots / "index"), "out": str(mine)})
    assert r.status_code == 400 and "exists" in r.json()["message"]
    assert mine.read_text() == "keep"
    r = post(server, "/studio/api/crawl/index-query", {"index": str(decoy), "out": str(roots / "new.parquet")})
    assert "field 'index'" in refused(r)


def test_crawl_export_writes_only_inside_the_roots(server, roots, decoy):
    r = post(server, "/studio/api/crawl/export", {"parquet": str(roots / "x.parquet"), "out_dir": str(decoy),
                                                  "overwrite": True})
    assert "field 'out_dir'" in refused(r)
    r = post(server, "/studio/api/crawl/export", {"parquet": str(roots), "out_dir": str(roots)})
    assert r.status_code == 403 and "data root itself" in r.json()["message"]


def test_endpoint_model_path_outside_the_roots_is_refused(server, decoy):
    r = post(server, "/springboard/endpoints", {"name": "e1", "model": str(decoy)})
    assert r.status_code == 403 and "SPRINGBOARD_DATA_ROOTS" in r.json()["error"]["message"]


# -- the SageMaker control plane, through boto3 ------------------------------------------------------


def _sagemaker(server, service: str = "sagemaker"):
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=KEY, config=Config(retries={"max_attempts": 1}))


def _denied(call, *names: str) -> str:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    for name in names:
        assert name in error["Message"]
    return error["Message"]


def test_control_plane_locations_are_confined(server, roots, decoy):
    sm = _sagemaker(server)
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}
    channel = lambda uri: {"ChannelName": "training", "DataSource": {"S3DataSource": {  # noqa: E731
        "S3DataType": "S3Prefix", "S3Uri": uri}}}
    common = dict(AlgorithmSpecification={"TrainingImage": "x", "TrainingInputMode": "File"},
                  RoleArn="arn:aws:iam::000000000000:role/r", ResourceConfig=resources,
                  StoppingCondition={"MaxRuntimeInSeconds": 60})
    _denied(lambda: sm.create_training_job(TrainingJobName="t1", InputDataConfig=[channel(f"file://{decoy}")],
                                           OutputDataConfig={"S3OutputPath": str(roots / "out")}, **common),
            "inputDataConfig.1.member.dataSource.s3DataSource.s3Uri", "SPRINGBOARD_DATA_ROOTS")
    _denied(lambda: sm.create_training_job(TrainingJobName="t2", InputDataConfig=[channel(str(roots))],
                                           OutputDataConfig={"S3OutputPath": str(decoy)}, **common),
            "outputDataConfig.s3OutputPath")
    _denied(lambda: sm.create_model(ModelName="m1", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                    PrimaryContainer={"Image": "x", "ModelDataUrl": str(decoy)}),
            "primaryContainer.modelDataUrl")
    _denied(lambda: sm.create_model(ModelName="m2", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                    PrimaryContainer={"Image": "x", "ModelDataUrl": f"{roots}/../decoy"}))
    _denied(lambda: sm.create_transform_job(
        TransformJobName="tj", ModelName="m1", TransformInput={"DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": str(decoy)}}},
        TransformOutput={"S3OutputPath": str(roots / "t")},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1}), "transformInput")
    _denied(lambda: sm.create_auto_ml_job_v2(
        AutoMLJobName="a1", RoleArn="arn:aws:iam::000000000000:role/r",
        AutoMLJobInputDataConfig=[{"ChannelType": "training", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": str(roots)}}}],
        OutputDataConfig={"S3OutputPath": "/etc"},
        AutoMLProblemTypeConfig={"TextGenerationJobConfig": {"BaseModelName": "smollm2-135m-instruct"}}),
        "outputDataConfig.s3OutputPath")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_async_inference_output_may_be_a_local_path_under_the_roots(server, roots, decoy):
    sm = _sagemaker(server)
    sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                    PrimaryContainer={"Image": "x", "ModelDataUrl": "smollm2-135m-instruct"})
    variant = [{"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]
    sm.create_endpoint_config(EndpointConfigName="ok", ProductionVariants=variant, AsyncInferenceConfig={
        "OutputConfig": {"S3OutputPath": str(roots / "async"), "S3FailurePath": f"file://{roots}/async-errors"}})
    described = sm.describe_endpoint_config(EndpointConfigName="ok")["AsyncInferenceConfig"]["OutputConfig"]
    assert described["S3OutputPath"] == str(roots / "async")
    _denied(lambda: sm.create_endpoint_config(EndpointConfigName="bad", ProductionVariants=variant,
                                              AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": str(decoy)}}),
            "asyncInferenceConfig.outputConfig.s3OutputPath", "SPRINGBOARD_DATA_ROOTS")


# -- Host and Origin ------------------------------------------------------------------------------------


def test_a_rebound_host_name_is_refused(server):
    r = httpx.get(server.url + "/studio/api/jobs", headers={**AUTH, "Host": "rebind.attacker.example"})
    assert r.status_code == 403 and "SPRINGBOARD_ALLOWED_HOSTS" in r.json()["message"]
    port = server.url.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]"):
        assert httpx.get(server.url + "/studio/api/jobs", headers={**AUTH, "Host": host}).status_code == 200


def test_allowed_hosts_setting_admits_a_name(sb_home, roots, monkeypatch):
    monkeypatch.setenv("SPRINGBOARD_ALLOWED_HOSTS", "studio.internal")
    live = liveserver.start()
    try:
        r = httpx.get(live.url + "/studio/api/jobs", headers={"Host": "studio.internal:8080"})
        assert r.status_code == 200, r.text
        assert httpx.get(live.url + "/studio/api/jobs", headers={"Host": "other.internal"}).status_code == 403
    finally:
        live.stop()


def test_cross_origin_simple_posts_are_refused(server):
    """A page elsewhere can send a text/plain POST without a preflight; the browser marks it."""
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": server.url.replace("127.0.0.1", "localhost")},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = httpx.post(server.url + "/endpoints/any/invocations", content=b"hello",
                       headers={**AUTH, "Content-Type": "text/plain", **headers})
        assert r.status_code == 403 and "cross-origin" in r.json()["message"], (headers, r.text)
        r = httpx.post(server.url + "/studio/api/datasets", content=b'{"files": {"a.jsonl": "{}"}}',
                       headers={**AUTH, "Content-Type": "text/plain", **headers})
        assert r.status_code == 403, (headers, r.text)
    # same-origin (Studio's own fetches) and reads are not refused
    r = httpx.post(server.url + "/studio/api/hyperparameters/validate", json={"model": "smollm2-135m-instruct"},
                   headers={**AUTH, "Origin": server.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    assert httpx.get(server.url + "/studio/api/jobs", headers={**AUTH, "Origin": "http://evil.example"}).status_code == 200


def test_boto3_text_plain_invocations_are_not_refused_for_their_content_type(server):
    from botocore.exceptions import ClientError

    runtime = _sagemaker(server, "sagemaker-runtime")
    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint(EndpointName="missing", Body=b"hello", ContentType="text/plain")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] != 403  # reached the route: no such endpoint


def test_the_cli_deploys_a_relative_model_folder_under_a_root(server, roots, tiny_causal_dir, monkeypatch, capsys):
    """The CLI runs as its user (unconfined) but the server is confined: it sends the folder's
    absolute path, which the server accepts under a root and refuses elsewhere."""
    import shutil

    from springboard.cli import main

    shutil.copytree(tiny_causal_dir, roots / "model")
    monkeypatch.chdir(roots)
    monkeypatch.setenv("SPRINGBOARD_API_KEY", KEY)
    assert main(["deploy", "model", "--name", "rel", "--no-wait"]) == 0, capsys.readouterr().err
    record = httpx.get(server.url + "/springboard/endpoints/rel", headers=AUTH).json()
    assert record["model"] == str((roots / "model").resolve())
    monkeypatch.chdir(tiny_causal_dir.parent)  # a folder outside the roots: refused, naming the setting
    assert main(["deploy", tiny_causal_dir.name, "--name", "out", "--no-wait"]) == 1
    assert "SPRINGBOARD_DATA_ROOTS" in capsys.readouterr().err
