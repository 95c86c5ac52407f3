"""One candidate: a training job (visible in `springboard jobs list`), watched until it ends or
is stopped (pruned, over a runtime budget, or the AutoML job stopping), then evaluated on the
validation set: TrainingLoss, ValidationLoss and Perplexity from the training job, ROUGE from
generating the validation responses with the candidate's model."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from springboard import jobs
from springboard.automl.plan import Plan, training_hyperparameters
from springboard.automl.search import Proposal, Search
from springboard.automl.state import Candidate
from springboard.errors import JobStopped

log = logging.getLogger("springboard.automl")

POLL_SECONDS = 0.25
ROUGE_NAMES = {"rouge1": "Rouge1", "rouge2": "Rouge2", "rougeL": "RougeL", "rougeLsum": "RougeLSum"}


@dataclass
class Budget:
    """The whole AutoML job's runtime limit (a monotonic deadline; the per training job limit is
    each candidate's own MaxRuntimeInSeconds, enforced by its runner)."""

    deadline: float | None

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def candidate_name(job_name: str, index: int) -> str:
    return f"{job_name}-candidate-{index:03d}"


def schedule(plan: Plan, proposal: Proposal, n_train: int) -> dict[str, str]:
    """The trainer's hyperparameters for a proposal: the mapped values plus evaluation every
    quarter of the run in a search (intermediate points for the pruner and the loss curves)
    and a logging interval that gives the curves about 20 points."""
    model = plan.model(proposal.base_model)
    hp = training_hyperparameters(model, proposal.hyperparameters)
    epochs = int(proposal.hyperparameters.get("epochCount", model.defaults.get("epoch", "1")))
    batch = int(proposal.hyperparameters.get("batchSize", model.defaults.get("per_device_train_batch_size", "4")))
    accumulation = int(model.defaults.get("gradient_accumulation_steps", "1"))
    steps = max(1, math.ceil(math.ceil(n_train / batch) / accumulation) * epochs)
    hp["logging_steps"] = str(max(1, min(5, steps // 20)))
    if plan.searching and plan.pruning:
        hp["eval_steps"] = str(max(1, math.ceil(steps / 4)))
    return hp


def run_candidate(
    ctx: jobs.JobContext,
    plan: Plan,
    search: Search,
    proposal: Proposal,
    candidate: Candidate,
    train_file: str,
    validation_file: str,
    budget: Budget,
    save: Callable[[Candidate], None],
) -> Candidate:
    """Starts (or, on a resumed AutoML job, re-attaches to) the candidate's training job and
    watches it. Raises JobStopped after stopping the candidate when the AutoML job is stopped."""
    from springboard.train.job import TrainingJobConfig

    store = jobs.JobStore()
    name = candidate.name
    if not store.exists(name):
        config = TrainingJobConfig(
            model=proposal.base_model, train=train_file, validation=validation_file,
            hyperparameters=candidate.training_hyperparameters, accept_eula=plan.accept_eula,
        )
        # MaxRuntimePerTrainingJobInSeconds is the training job's own MaxRuntimeInSeconds: its runner stops it
        job = jobs.submit(config, name=name, max_runtime=plan.max_runtime_per_training_job)
        log.info("candidate %s: training %s with %s", name, proposal.base_model, candidate.hyperparameters)
        # The training room's schedule check, found when the job was submitted.
        candidate.warnings = list(job.config.get("warnings", []))
        for warning in candidate.warnings:
            ctx.warn(f"candidate {name}: {warning}")
        if candidate.warnings:
            save(candidate)
    else:
        job = jobs.refresh(name, store)
        if job.status in ("Stopped", "Failed") and candidate.stop_reason in (None, "Stopped"):
            jobs.resume(name, store)  # interrupted with the AutoML job: continue from its checkpoint
            log.info("candidate %s: resumed", name)
    seen = 0
    reason: str | None = None
    try:
        while True:
            job = jobs.refresh(name, store)
            points = store.metrics(name, "val_loss")
            for point in points[seen:]:
                # Step 0 (the base model, before training) is the same for every candidate of a
                # base model, so it carries no signal for the pruner.
                if point.step and point.step not in candidate.intermediate:
                    candidate.intermediate[point.step] = point.value
                    if reason is None and not job.done and search.report(proposal, point.step, point.value):
                        reason = "Pruned"
                        candidate.failure_reason = (
                            f"pruned at step {point.step}: validation loss {point.value:.4f} is worse than the "
                            "median of the finished candidates at that step"
                        )
            seen = len(points)
            if job.done:
                if reason is None and "MaxRuntimeExceeded" in (t.status for t in job.transitions):
                    candidate.stop_reason = "MaxRuntimePerTrainingJobInSeconds"
                    candidate.failure_reason = (
                        f"stopped after MaxRuntimePerTrainingJobInSeconds ({plan.max_runtime_per_training_job}s)"
                    )
                break
            if reason is None and budget.expired():
                reason = "MaxAutoMLJobRuntimeInSeconds"
                candidate.failure_reason = "stopped when the AutoML job reached MaxAutoMLJobRuntimeInSeconds"
            if reason is None and ctx.should_stop():
                reason = "Stopped"
                candidate.failure_reason = "stopped with its AutoML job"
            if reason is not None:
                candidate.stop_reason = reason
                candidate.status = "Stopping"
                save(candidate)
                log.info("candidate %s: stopping (%s)", name, reason)
                job = jobs.stop(name, store=store)
                break
            time.sleep(POLL_SECONDS)
    except BaseException:
        # The AutoML worker is going down (SIGTERM, an error): the candidate must not run on alone.
        if not jobs.refresh(name, store).done:
            store.request_stop(name)
        raise

    candidate.status = job.status if job.status in ("Completed", "Failed", "Stopped") else "Stopped"
    candidate.end_time = job.end_time or time.time()
    candidate.last_modified_time = time.time()
    candidate.metrics.update(_training_metrics(store, name))
    if job.status == "Completed":
        candidate.artifact = job.output_dir
        candidate.model_data_url = job.output_dir
        candidate.failure_reason = None
    elif job.status == "Failed":
        candidate.failure_reason = job.failure_reason
        candidate.objective_status = "Failed"
    else:
        candidate.objective_status = "Failed"
        candidate.failure_reason = candidate.failure_reason or "training job stopped"
    save(candidate)
    if candidate.stop_reason == "Stopped":
        raise JobStopped(f"AutoML job {ctx.name} stopped on request")
    return candidate


def _training_metrics(store: jobs.JobStore, name: str) -> dict[str, float]:
    """The last TrainingLoss / ValidationLoss / Perplexity the training job logged."""
    out: dict[str, float] = {}
    for metric, standard in (("train_loss", "TrainingLoss"), ("val_loss", "ValidationLoss"), ("perplexity", "Perplexity")):
        points = store.metrics(name, metric)
        if points:
            out[standard] = points[-1].value
    return out


def evaluate_candidate(candidate: Candidate, plan: Plan, validation_file: str, out_dir: Path) -> Candidate:
    """ROUGE of the candidate's generations against the validation responses (the first
    MaxEvaluationRecords records), through the evaluate room's generate-then-score path (the
    prompts rendered as the candidate was trained: generate/prompting.py); the generations are
    kept for the insights report."""
    from springboard.automl.channels import load_validation
    from springboard.evaluate.generation import evaluate_model

    if candidate.artifact and "TrainingLoss" not in candidate.metrics:
        record = json.loads((Path(candidate.artifact) / "springboard.json").read_text()).get("metrics", {})
        if record.get("train_loss") is not None:
            candidate.metrics["TrainingLoss"] = float(record["train_loss"])
    if plan.max_evaluation_records == 0 or not candidate.artifact:
        return candidate
    rows = load_validation(validation_file, plan.max_evaluation_records)
    if not rows:
        return candidate
    result = evaluate_model(candidate.artifact, [r["prompt"] for r in rows], [r["completion"] for r in rows])
    outputs, scores, per = result.outputs, result.rouge, result.per_record
    if scores is not None:
        for key, standard in ROUGE_NAMES.items():
            candidate.metrics[standard] = float(getattr(scores, key))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "predictions.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for row, output, score in zip(rows, outputs, per):
            f.write(json.dumps({"id": row["id"], "prompt": row["prompt"], "reference": row["completion"],
                                "generated_text": output, **score}, ensure_ascii=False) + "\n")
    candidate.predictions_file = str(path)
    return candidate

