"""The AutoML job: `create_auto_ml_job_v2(request)` validates and submits it; `run` is its body,
in a job worker process, and reads top to bottom as Autopilot's secondary statuses:

    Starting -> AnalyzingData -> TrainingModels -> MaxCandidatesReached | MaxAutoMLJobRuntimeReached
    -> GeneratingModelInsightsReport -> DeployingModel -> Completed

Each candidate is its own training job (`<job>-candidate-NNN`); stopping the AutoML job stops the
candidate that is running."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from springboard import jobs, storage
from springboard.automl.candidates import Budget, candidate_name, evaluate_candidate, run_candidate, schedule
from springboard.automl.plan import Plan, build_plan
from springboard.automl.request import CreateAutoMLJobV2Request, parse_request
from springboard.automl.search import Proposal, Search, finished
from springboard.automl.state import AutoMLState, Candidate, DataSummary
from springboard.errors import ConflictError, SpringboardError

log = logging.getLogger("springboard.automl")

KIND = "automl"


class AutoMLJobConfig(BaseModel):
    """The job kind `automl`'s config: the CreateAutoMLJobV2 request as sent, and the plan built
    from it at submit time (the resolved models, the search space, the budgets)."""

    request: dict[str, Any]
    plan: Plan


def create_auto_ml_job_v2(request: dict[str, Any] | CreateAutoMLJobV2Request, wait: bool = False) -> jobs.Job:
    """CreateAutoMLJobV2: checks the request (shape, rules, models) and starts the job."""
    req = parse_request(request)
    if jobs.JobStore().exists(req.AutoMLJobName):
        raise ConflictError(
            f"an AutoML job (or another job) named {req.AutoMLJobName!r} already exists; AutoMLJobName must be unique"
        )
    config = AutoMLJobConfig(request=req.to_dict(), plan=build_plan(req))
    return jobs.submit(config, name=req.AutoMLJobName, wait=wait)


def get_automl_job(name: str) -> jobs.Job:
    job = jobs.refresh(name)
    if job.kind != KIND:
        raise SpringboardError(f"job {name!r} is a {job.kind} job, not an AutoML job")
    return job


def stop_auto_ml_job(name: str, wait: bool = True) -> jobs.Job:
    """StopAutoMLJob: the job stops its running candidate, then itself."""
    get_automl_job(name)
    if wait:
        return jobs.stop(name, grace=120)
    return jobs.JobStore().request_stop(name)


def run(ctx: jobs.JobContext, config: AutoMLJobConfig) -> None:
    """The job's body (runs in the worker process), in Autopilot's secondary statuses."""
    plan = config.plan
    job_dir = Path(ctx.job_dir)
    state = AutoMLState.load(job_dir)
    budget = Budget(deadline=time.monotonic() + plan.max_job_runtime if plan.max_job_runtime else None)

    data = analyze_data(ctx, parse_request(config.request), plan, state, job_dir)
    ended_by = train_candidates(ctx, plan, state, data, budget, job_dir)
    best = pick_and_publish(plan, state, ended_by, job_dir)
    write_insights_report(ctx, plan, state, job_dir)
    if plan.deploy:
        deploy_best(ctx, plan, state, best, job_dir)


def analyze_data(ctx: jobs.JobContext, request: CreateAutoMLJobV2Request, plan: Plan, state: AutoMLState,
                 job_dir: Path) -> DataSummary:
    """AnalyzingData: the input channels read and split (once; a resumed job keeps its split)."""
    from springboard.automl.channels import prepare_channels

    if state.data is None:
        ctx.set_secondary_status("AnalyzingData", "reading and splitting the input channels")
        state.data = prepare_channels(request.AutoMLJobInputDataConfig, job_dir / "data", plan.validation_fraction)
        state.save(job_dir)
    return state.data


def train_candidates(ctx: jobs.JobContext, plan: Plan, state: AutoMLState, data: DataSummary, budget: Budget,
                     job_dir: Path) -> str:
    """TrainingModels: one candidate after another until MaxCandidates or the job's runtime
    budget; returns what ended the search (MaxCandidatesReached | MaxAutoMLJobRuntimeReached)."""
    ctx.set_secondary_status("TrainingModels", f"up to {plan.max_candidates} candidate(s), objective {plan.objective}")
    search = Search(plan, state)

    def save(c: Candidate) -> None:
        state.upsert(c)
        state.save(job_dir)

    ended_by = "MaxCandidatesReached"
    for index in range(1, plan.max_candidates + 1):
        ctx.check_stop()
        if budget.expired():
            ended_by = "MaxAutoMLJobRuntimeReached"
            break
        existing = state.candidate(candidate_name(plan.job_name, index))
        if existing is not None and finished(existing):
            continue  # from before a resume; the search already counts it
        proposal, candidate = _propose(plan, search, existing, index, data.train_records)
        save(candidate)
        candidate = run_candidate(ctx, plan, search, proposal, candidate, data.train_file, data.validation_file, budget, save)
        if candidate.status == "Completed":
            _evaluate(candidate, plan, data.validation_file, job_dir)
        save(candidate)
        search.tell(proposal, candidate)
        _log_candidate(candidate, plan)
        if candidate.stop_reason == "MaxAutoMLJobRuntimeInSeconds":
            ended_by = "MaxAutoMLJobRuntimeReached"
            break
    state.search_ended_by = ended_by
    ctx.set_secondary_status(ended_by, f"{len(state.candidates)} candidate(s) trained")
    return ended_by


def _propose(plan: Plan, search: Search, existing: Candidate | None, index: int,
             train_records: int) -> tuple[Proposal, Candidate]:
    """The candidate to train next: the one a resumed job was training, or the search's next."""
    if existing is not None:
        existing.status, existing.stop_reason, existing.failure_reason = "InProgress", None, None
        return search.resume(existing), existing
    proposal = search.propose()
    return proposal, Candidate(
        name=candidate_name(plan.job_name, index),
        index=index,
        trial=proposal.trial.number if proposal.trial is not None else None,
        base_model_name=plan.model(proposal.base_model).name,
        base_model=proposal.base_model,
        hyperparameters=proposal.hyperparameters,
        training_hyperparameters=schedule(plan, proposal, train_records),
        creation_time=time.time(),
    )


def _evaluate(candidate: Candidate, plan: Plan, validation_file: str, job_dir: Path) -> None:
    """A trained candidate's objective; its evaluation failing is its own failure."""
    try:
        evaluate_candidate(candidate, plan, validation_file, job_dir / "candidates" / candidate.name)
    except Exception as exc:  # noqa: BLE001 - a candidate's evaluation failing is its own failure
        log.exception("candidate %s: evaluation failed", candidate.name)
        candidate.status, candidate.failure_reason = "Failed", f"evaluation failed: {exc}"
    objective = candidate.metrics.get(plan.objective)
    candidate.objective_status = "Succeeded" if candidate.status == "Completed" and objective is not None else "Failed"


def pick_and_publish(plan: Plan, state: AutoMLState, ended_by: str, job_dir: Path) -> Candidate:
    """The best candidate (the job fails when none has an objective value), uploaded to the
    request's S3OutputPath."""
    best = pick_best(state.candidates, plan)
    if best is None:
        reasons = "; ".join(f"{c.name}: {c.failure_reason}" for c in state.candidates if c.failure_reason)
        state.save(job_dir)
        raise SpringboardError(
            "no candidate completed with an objective value"
            + (f" ({ended_by})" if ended_by == "MaxAutoMLJobRuntimeReached" else "")
            + (f": {reasons}" if reasons else "")
        )
    state.best = best.name
    if plan.output_path:
        best.model_data_url = _upload(best, plan)
        state.upsert(best)
    state.save(job_dir)
    log.info("best candidate %s: %s %.6g", best.name, plan.objective, best.metrics[plan.objective])
    return best


def write_insights_report(ctx: jobs.JobContext, plan: Plan, state: AutoMLState, job_dir: Path) -> None:
    """GeneratingModelInsightsReport: the model is still good without its report, so a failure
    here is a partial failure (ModelInsightsError), not the job's."""
    ctx.set_secondary_status("GeneratingModelInsightsReport", "loss curves, metrics and sample generations")
    try:
        from springboard.automl.report import write_report

        path = write_report(ctx.name, plan, state, Path(ctx.output_dir))
        state.report = str(path)
        if plan.output_path:
            state.report_url = storage.publish_file(path, f"{plan.output_path.rstrip('/')}/{plan.job_name}/documentation/{path.name}")
    except Exception as exc:  # noqa: BLE001 - the model is still good without its report
        log.exception("insights report failed")
        ctx.set_secondary_status("ModelInsightsError", str(exc)[:500])
        state.partial_failures.append(f"model insights report: {exc}")
    state.save(job_dir)


def deploy_best(ctx: jobs.JobContext, plan: Plan, state: AutoMLState, best: Candidate, job_dir: Path) -> None:
    """DeployingModel (ModelDeployConfig): the best candidate behind an endpoint."""
    ctx.set_secondary_status("DeployingModel", f"deploying {best.name}")
    try:
        state.endpoint_name = deploy_candidate(best, plan.endpoint_name, plan.job_name)
    except SpringboardError as exc:
        ctx.set_secondary_status("ModelDeploymentError", str(exc)[:500])
        state.save(job_dir)
        raise SpringboardError(f"ModelDeploymentError: deploying {best.name} failed: {exc}") from None
    state.save(job_dir)


def pick_best(candidates: list[Candidate], plan: Plan) -> Candidate | None:
    scored = [c for c in candidates if c.status == "Completed" and plan.objective in c.metrics]
    if not scored:
        return None
    sign = 1 if plan.direction == "Minimize" else -1
    return min(scored, key=lambda c: (sign * c.metrics[plan.objective], c.index))


def deploy_candidate(candidate: Candidate, endpoint_name: str | None, job_name: str) -> str:
    """ModelDeployConfig: the candidate's model behind a serving endpoint (the endpoint server
    starts in the background when none runs)."""
    from springboard.serve.deploy import default_endpoint_name, deploy
    from springboard.serve.registry import EndpointConfig

    if not candidate.artifact:
        raise SpringboardError(f"candidate {candidate.name} has no model artifact")
    name = endpoint_name or default_endpoint_name(job_name)
    deploy(EndpointConfig(name=name, model=str(candidate.artifact)), wait=True)
    log.info("deployed %s as endpoint %s", candidate.name, name)
    return name


def _upload(candidate: Candidate, plan: Plan) -> str:
    """SageMaker's layout: `<S3OutputPath>/<job>/<candidate>/output/model` (storage.py: every
    file published whole, with the endpoint and credentials every other location uses)."""
    dest = f"{(plan.output_path or '').rstrip('/')}/{plan.job_name}/{candidate.name}/output/model"
    storage.upload_dir(candidate.artifact, dest)
    return dest


def _log_candidate(candidate: Candidate, plan: Plan) -> None:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in candidate.metrics.items())
    log.info("candidate %s %s%s: %s", candidate.name, candidate.status,
             f" ({candidate.stop_reason})" if candidate.stop_reason else "", shown or candidate.failure_reason)


def _notes(job: jobs.Job) -> list[str]:
    """For the watcher: each candidate's state and metrics, and its warnings."""
    lines = []
    for c in AutoMLState.load(job.job_dir).candidates:
        shown = c.status + "".join(f" {k}={v:.4g}" for k, v in sorted(c.metrics.items()))
        lines.append(f"  {c.name} ({c.base_model_name} {c.hyperparameters}): {shown}")
        lines += [f"  warning: {c.name}: {warning}" for warning in c.warnings]
    return lines


JOB_KIND = jobs.register(jobs.JobKind(KIND, AutoMLJobConfig, run, name_base=lambda config: config.plan.job_name,
                                      notes=_notes))
