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

from springboard import jobs
from springboard.automl.candidates import Budget, candidate_name, evaluate_candidate, run_candidate, schedule
from springboard.automl.plan import Plan, build_plan
from springboard.automl.request import CreateAutoMLJobV2Request, parse_request
from springboard.automl.search import Search, finished
from springboard.automl.state import AutoMLState, Candidate
from springboard.errors import ConflictError, SpringboardError

log = logging.getLogger("springboard.automl")

KIND = "automl"
ENTRYPOINT = "springboard.automl.job:run"


def create_auto_ml_job_v2(request: dict[str, Any] | CreateAutoMLJobV2Request, wait: bool = False) -> jobs.Job:
    """CreateAutoMLJobV2: checks the request (shape, rules, models) and starts the job."""
    req = parse_request(request)
    store = jobs.JobStore()
    if store.exists(req.AutoMLJobName):
        raise ConflictError(
            f"an AutoML job (or another job) named {req.AutoMLJobName!r} already exists; AutoMLJobName must be unique"
        )
    plan = build_plan(req)
    config = {"request": req.to_dict(), "plan": plan.model_dump(mode="json")}
    return jobs.submit(KIND, req.AutoMLJobName, ENTRYPOINT, config, wait=wait, store=store)


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


def run(ctx: jobs.JobContext) -> None:
    """Job entrypoint (runs in the worker process)."""
    from springboard.automl.channels import prepare_channels

    request = parse_request(ctx.config["request"])
    plan = Plan.model_validate(ctx.config["plan"])
    job_dir = Path(ctx.job_dir)
    state = AutoMLState.load(job_dir)
    budget = Budget(
        per_job=plan.max_runtime_per_training_job,
        deadline=time.monotonic() + plan.max_job_runtime if plan.max_job_runtime else None,
    )

    if state.data is None:
        ctx.set_secondary_status("AnalyzingData", "reading and splitting the input channels")
        state.data = prepare_channels(request.AutoMLJobInputDataConfig, job_dir / "data", plan.validation_fraction)
        state.save(job_dir)
    data = state.data

    ctx.set_secondary_status("TrainingModels", f"up to {plan.max_candidates} candidate(s), objective {plan.objective}")
    search = Search(plan, state)
    ended_by = "MaxCandidatesReached"
    index = 0
    while index < plan.max_candidates:
        ctx.check_stop()
        index += 1
        if budget.expired():
            ended_by = "MaxAutoMLJobRuntimeReached"
            break
        existing = state.candidate(candidate_name(plan.job_name, index))
        if existing is not None and finished(existing):
            continue  # from before a resume; the search already counts it
        if existing is not None:
            proposal = search.resume(existing)
            candidate = existing
            candidate.status, candidate.stop_reason, candidate.failure_reason = "InProgress", None, None
        else:
            proposal = search.propose()
            candidate = Candidate(
                name=candidate_name(plan.job_name, index),
                index=index,
                trial=proposal.trial.number if proposal.trial is not None else None,
                base_model_name=plan.model(proposal.base_model).name,
                base_model=proposal.base_model,
                hyperparameters=proposal.hyperparameters,
                training_hyperparameters=schedule(plan, proposal, data.train_records),
                creation_time=time.time(),
            )

        def save(c: Candidate) -> None:
            state.upsert(c)
            state.save(job_dir)

        save(candidate)
        candidate = run_candidate(ctx, plan, search, proposal, candidate, data.train_file, data.validation_file, budget, save)
        if candidate.status == "Completed":
            try:
                evaluate_candidate(candidate, plan, data.validation_file, job_dir / "candidates" / candidate.name)
            except Exception as exc:  # noqa: BLE001 - a candidate's evaluation failing is its own failure
                log.exception("candidate %s: evaluation failed", candidate.name)
                candidate.status, candidate.failure_reason = "Failed", f"evaluation failed: {exc}"
            objective = candidate.metrics.get(plan.objective)
            candidate.objective_status = "Succeeded" if candidate.status == "Completed" and objective is not None else "Failed"
        save(candidate)
        search.tell(proposal, candidate)
        _log_candidate(candidate, plan)
        if candidate.stop_reason == "MaxAutoMLJobRuntimeInSeconds":
            ended_by = "MaxAutoMLJobRuntimeReached"
            break
    state.search_ended_by = ended_by
    ctx.set_secondary_status(ended_by, f"{len(state.candidates)} candidate(s) trained")

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

    ctx.set_secondary_status("GeneratingModelInsightsReport", "loss curves, metrics and sample generations")
    try:
        from springboard.automl.report import write_report

        path = write_report(ctx.name, plan, state, Path(ctx.output_dir))
        state.report = str(path)
        if plan.output_path:
            state.report_url = _copy_file(path, f"{plan.output_path.rstrip('/')}/{plan.job_name}/documentation/{path.name}")
    except Exception as exc:  # noqa: BLE001 - the model is still good without its report
        log.exception("insights report failed")
        ctx.set_secondary_status("ModelInsightsError", str(exc)[:500])
        state.partial_failures.append(f"model insights report: {exc}")
    state.save(job_dir)

    if plan.deploy:
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
    """SageMaker's layout: `<S3OutputPath>/<job>/<candidate>/output/model`."""
    import fsspec

    dest = f"{(plan.output_path or '').rstrip('/')}/{plan.job_name}/{candidate.name}/output/model"
    fs, root = fsspec.core.url_to_fs(dest)
    fs.put(str(candidate.artifact).rstrip("/") + "/", root, recursive=True)
    return dest


def _copy_file(path: Path, dest: str) -> str:
    import fsspec

    fs, root = fsspec.core.url_to_fs(dest)
    parent = root.rsplit("/", 1)[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    fs.put_file(str(path), root)
    return dest


def _log_candidate(candidate: Candidate, plan: Plan) -> None:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in candidate.metrics.items())
    log.info("candidate %s %s%s: %s", candidate.name, candidate.status,
             f" ({candidate.stop_reason})" if candidate.stop_reason else "", shown or candidate.failure_reason)
