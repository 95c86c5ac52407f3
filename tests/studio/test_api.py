"""The Studio's HTTP surface without a browser (fast): static files from package data, the
redirect, the API key on /studio/api but not on the pages, and the read-only views' errors."""

from __future__ import annotations

import httpx


def test_pages_are_public_api_needs_the_key(live_with_key):
    url = live_with_key.url
    root = httpx.get(url + "/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/studio/"
    page = httpx.get(url + "/studio/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="login"' in page.text
    script = httpx.get(url + "/studio/pages/models.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(url + "/studio/%2e%2e/__init__.py").status_code == 404  # no way out of static/
    assert httpx.get(url + "/studio/nope.js").status_code == 404
    refused = httpx.get(url + "/studio/api/models")
    assert refused.status_code == 401
    ok = httpx.get(url + "/studio/api/models", headers={"Authorization": "Bearer studio-test-key"})
    assert ok.status_code == 200 and len(ok.json()["models"]) == ok.json()["total"]
    # the control plane on POST / stays behind the key
    sm = httpx.post(url + "/", headers={"X-Amz-Target": "SageMaker.ListEndpoints",
                                         "Content-Type": "application/x-amz-json-1.1"}, content="{}")
    assert sm.status_code == 403


def test_views_answer_4xx_with_the_rooms_messages(live):
    url = live.url + "/studio/api"
    r = httpx.post(url + "/hyperparameters/validate",
                   json={"model": "huggingface-text2text-flan-t5-small", "hyperparameters": {"epochz": "1"}})
    assert r.status_code == 400 and "unknown hyperparameter 'epochz'" in r.json()["message"]
    r = httpx.post(url + "/template/preview", json={"template": '{"prompt": "{q}"}', "records": '{"q": 1}\n'})
    assert r.status_code == 400 and "'completion'" in r.json()["message"]
    r = httpx.post(url + "/template/preview", json={"template": '{"prompt": "{q}", "completion": "{a}"}',
                                                    "records": '{"q": 1}\n'})
    assert r.status_code == 400 and "upload:1: field 'a'" in r.json()["message"]
    assert httpx.get(url + "/jobs/nope/metrics").status_code == 404
    assert httpx.get(url + "/models/nope").status_code == 404
    r = httpx.post(url + "/datasets", json={"files": {"../x.jsonl": "{}"}})
    assert r.status_code == 400 and "plain names" in r.json()["message"]
    r = httpx.post(url + "/datasets", json={"files": {"train.jsonl": '{"q": 1}\n'}, "template": '{"prompt": "{q}", "completion": "x"}'})
    assert r.status_code == 201 and r.json()["files"] == ["template.json", "train.jsonl"]


def test_writes_need_absolute_locations_and_an_existing_source(live, tmp_path):
    url = live.url + "/studio/api"
    r = httpx.post(url + "/crawl/export", json={"parquet": str(tmp_path / "none"), "out_dir": "relative/dir"})
    assert r.status_code == 400 and "relative" in r.json()["message"]
    r = httpx.post(url + "/crawl/export", json={"parquet": str(tmp_path / "none"), "out_dir": str(tmp_path / "out")})
    assert r.status_code == 404 and not (tmp_path / "out").exists()
    r = httpx.post(url + "/crawl/runs", json={"name": "c1", "inputs": [str(tmp_path)], "output": "rel"})
    assert r.status_code == 400 and "relative" in r.json()["message"]


def test_job_output_files_on_s3_are_listed_and_downloaded(live, s3_bucket):
    """A transform (or any job) whose output location is s3:// shows its files and serves them,
    as a local one does (through springboard.storage, here moto's S3 on loopback)."""
    from springboard import storage
    from springboard.jobs import JobStore

    out = f"{s3_bucket}/transform-out"
    storage.write_bytes(f"{out}/test.jsonl.out", b'{"id": 0, "generated_texts": ["x"]}\n')
    storage.write_bytes(f"{out}/sub/more.jsonl.out", b"{}\n")
    JobStore().create("s3-job", "transform", "springboard.transform.job:run_job", {}, output_dir=out)
    url = live.url + "/studio/api/jobs/s3-job/files"
    files = httpx.get(url).json()
    assert files == [{"name": "sub/more.jsonl.out", "size": 3}, {"name": "test.jsonl.out", "size": 36}]
    got = httpx.get(url + "/test.jsonl.out")
    assert got.status_code == 200 and got.content == b'{"id": 0, "generated_texts": ["x"]}\n'
    assert httpx.get(url + "/sub/more.jsonl.out").content == b"{}\n"
    assert httpx.get(url + "/nope.out").status_code == 404
    assert httpx.get(url + "/sub/%2e%2e/test.jsonl.out").status_code == 404  # no way out of the output
    assert httpx.get(url + "/sub").status_code == 404
