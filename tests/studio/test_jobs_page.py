"""The Jobs pages in a real browser: what a job used (data, hyperparameters), progress with an ETA,
rounded metrics, a log with its progress-bar redraws collapsed, re-run and clone, two runs' loss
curves on one plot, search and filters, and delete (refused while the job runs)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from springboard import jobs
from springboard.hub import register_model

pytestmark = pytest.mark.slow

HP = {"epoch": "1", "per_device_train_batch_size": "2", "logging_steps": "1", "eval_steps": "2",
      "learning_rate": "0.0123456", "validation_split_ratio": "0.25"}


def _data(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"prompt": f"Say {i}:", "completion": f" {i}"} for i in range(10)]
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _train(name, data, **hp):
    from springboard.jobs import submit
    from springboard.train.job import TrainingJobConfig

    return submit(TrainingJobConfig(model="tiny-causal", train=str(data), hyperparameters=HP | hp), name=name)


def test_job_page_config_progress_metrics_log_rerun_and_compare(live, page, tiny_causal_dir, tmp_path):
    register_model("tiny-causal", tiny_causal_dir)
    data = _data(tmp_path / "data")
    _train("run-a", data)
    _train("run-b", data, learning_rate="0.05")
    assert jobs.wait_for("run-a", poll=0.5, timeout=600).status == "Completed"
    assert jobs.wait_for("run-b", poll=0.5, timeout=600).status == "Completed"
    # tqdm-style redraws in the log: one line drawn three times, then three lines of one bar
    log = jobs.JobStore().get("run-a").log_path
    with log.open("a") as f:
        f.write("Map: 10%|#         | 1/10\rMap: 50%|#####     | 5/10\rMap: 100%|##########| 10/10\n")
        f.write("eval: 33%|###   | 1/3\neval: 67%|######| 2/3\neval: 100%|######| 3/3\nafter the bars\n")

    page.goto(live.url + "/studio/#/job/run-a")
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Completed")
    # what the job used: its data channel and its hyperparameters, given and resolved
    expect(page.locator("#job-data")).to_contain_text(str(data))
    expect(page.locator("#job-data")).to_contain_text("tiny-causal")
    lr = page.locator("#job-hyperparameters tr", has_text="learning_rate")
    expect(lr.locator("td").nth(1)).to_have_text("0.0123456")  # as given
    expect(lr.locator("td").nth(2)).to_have_text("0.01235")  # as used, 4 significant digits
    epochs = page.locator("#job-hyperparameters tr", has_text="epoch")  # given as the alias epoch
    expect(epochs).to_have_count(1)
    expect(epochs.locator("td")).to_have_text(["epochs", "1", "1"])
    # progress: every step done
    total = jobs.JobStore().get("run-a").config["total_steps"]
    expect(page.locator("#job-progress .progress")).to_have_attribute("data-done", str(total))
    expect(page.locator("#job-progress")).to_contain_text(f"{total} / {total} steps (100%)")
    # metrics rounded to 4 significant digits
    expect(page.locator("#metrics-latest tbody tr").first).to_be_visible()
    for cell in page.locator("#metrics-latest tbody tr td:nth-child(2)").all_text_contents():
        digits = re.sub(r"^-?0*\.?0*|e.*$|\.", "", cell)
        assert len(digits) <= 4 or float(cell).is_integer(), cell
    # the log: each redrawn line once, as last drawn; one bar's lines collapsed to the newest
    expect(page.locator("#log")).to_contain_text("after the bars")
    text = page.locator("#log").text_content()
    assert "Map: 100%|##########| 10/10" in text and "5/10" not in text and "1/10" not in text
    assert "eval: 100%|######| 3/3" in text and "2/3" not in text
    expect(page.locator("#log-collapsed")).to_contain_text("progress-bar redraws collapsed")
    assert int(page.locator("#log-collapsed").text_content().split()[0]) >= 4  # ours; training may draw more

    # clone: the fine-tune form, filled from this job through the URL
    expect(page.locator("#clone")).to_have_attribute("href", "#/finetune/tiny-causal?clone=run-a")
    page.get_by_role("link", name="Clone in the fine-tune form").click()
    expect(page.locator("#data-path")).to_have_value(str(data))
    expect(page.locator("#job-name")).to_have_value("run-a-clone")
    page.go_back()
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Completed")
    # re-run: the same configuration under a new name, from the keyboard
    page.locator("#rerun").focus()
    page.keyboard.press("Enter")
    # CreateTrainingJob checks the request (data tokenized as the job will) before it answers:
    # on a loaded machine that outlasts playwright's 30 s default, so wait for either outcome.
    page.wait_for_function(
        "() => location.hash === '#/job/run-a-rerun-1' || (document.querySelector('#error')?.textContent || '').trim()",
        timeout=180_000,
    )
    expect(page.locator("#error")).to_have_text("")
    assert page.url.endswith("/studio/#/job/run-a-rerun-1"), page.url
    expect(page.locator("#job-data")).to_contain_text(str(data))
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Completed", timeout=600_000)
    rerun = jobs.JobStore().get("run-a-rerun-1")
    assert rerun.config["hyperparameters"] == HP and rerun.config["train"] == str(data)
    from springboard.controlplane.resource_store import Records

    assert Records().get("training-job", "run-a-rerun-1") is not None  # made through CreateTrainingJob

    # compare two runs' loss curves on one plot
    page.goto(live.url + "/studio/#/jobs")
    expect(page.locator("#jobs-table")).to_have_attribute("data-count", "3")
    page.get_by_label("Run A").select_option("run-a")
    page.get_by_label("Run B").select_option("run-b")
    page.get_by_role("button", name="Compare loss curves").click()
    legend = page.locator("#compare-legend")
    for series in ("run-a train_loss", "run-a val_loss", "run-b train_loss", "run-b val_loss"):
        expect(legend).to_contain_text(series)
    points = sum(len([m for m in jobs.JobStore().metrics(n) if m.name in ("train_loss", "val_loss")]) for n in ("run-a", "run-b"))
    expect(page.locator("#compare-plot")).to_have_attribute("data-points", str(points))
    page.get_by_label("Run B").select_option("run-a")
    page.get_by_role("button", name="Compare loss curves").click()
    expect(page.locator("#error")).to_contain_text("pick two different training runs")

    # deleting the re-run forgets its SageMaker request too
    page.goto(live.url + "/studio/#/job/run-a-rerun-1")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete…").click()
    page.wait_for_url("**/studio/#/jobs")
    expect(page.locator("#jobs-table")).to_have_attribute("data-count", "2")
    assert Records().get("training-job", "run-a-rerun-1") is None


def test_jobs_list_filters_progress_eta_and_delete(live, page, tiny_causal_dir, tmp_path):
    register_model("tiny-causal", tiny_causal_dir)
    data = _data(tmp_path / "data")
    _train("quick-one", data)
    assert jobs.wait_for("quick-one", poll=0.5, timeout=600).status == "Completed"
    _train("long-run", data, epoch="1000", eval_steps="1000")

    # search by name text, filter by kind and by status
    page.goto(live.url + "/studio/#/jobs")
    table = page.locator("#jobs-table")
    expect(table).to_have_attribute("data-count", "2")
    page.get_by_label("Search by name").fill("LONG")
    expect(table).to_have_attribute("data-count", "1")
    expect(table).to_contain_text("long-run")
    page.get_by_label("Search by name").fill("")
    page.get_by_label("Status").select_option("Completed")
    expect(table).to_have_attribute("data-count", "1")
    expect(table).to_contain_text("quick-one")
    page.get_by_label("Kind").select_option("transform")
    expect(table).to_have_attribute("data-count", "0")
    expect(table).to_contain_text("No job matches (2 in all).")
    page.goto(live.url + "/studio/#/jobs?kind=training&status=InProgress")
    expect(table).to_have_attribute("data-count", "1")
    expect(table).to_contain_text("long-run")

    # a running job: progress of its total steps and an ETA
    page.get_by_role("link", name="long-run").click()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text(re.compile(r" / \d+ steps \(\d+%\)"), timeout=300_000)
    total = jobs.JobStore().get("long-run").config["total_steps"]
    expect(progress.locator(".progress")).to_have_attribute("data-total", str(total))
    expect(progress).to_contain_text("left (", timeout=120_000)
    # delete is refused while it runs: by the page and by the server (409, in words)
    page.get_by_role("button", name="Delete…").click()
    expect(page.locator("#error")).to_contain_text("job long-run is InProgress: stop it first, then delete it")
    r = httpx.delete(f"{live.url}/studio/api/jobs/long-run")
    assert r.status_code == 409 and "stop it first" in r.json()["message"]
    page.click("#stop")
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Stopped", timeout=120_000)
    # once stopped: a confirmation first; dismissed, nothing happens
    page.once("dialog", lambda d: d.dismiss())
    page.get_by_role("button", name="Delete…").click()
    expect(page.locator("#job-head")).to_have_attribute("data-status", "Stopped")
    assert jobs.JobStore().exists("long-run")
    job_dir = jobs.JobStore().get("long-run").job_dir
    messages = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    page.locator("#delete").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/studio/#/jobs")
    expect(table).to_have_attribute("data-count", "1")
    assert "Delete job long-run?" in messages[0]
    assert not jobs.JobStore().exists("long-run") and not job_dir.exists()
    assert httpx.delete(f"{live.url}/studio/api/jobs/long-run").status_code == 404
