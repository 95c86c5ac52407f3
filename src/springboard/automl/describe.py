"""DescribeAutoMLJobV2, ListCandidatesForAutoMLJob and ListAutoMLJobs in the AWS response shapes
(timestamps in epoch seconds, as the AWS JSON protocol sends them)."""

from __future__ import annotations

from typing import Any, Literal

from springboard import jobs
from springboard.automl.job import KIND, get_automl_job
from springboard.automl.plan import Plan
from springboard.automl.state import METRIC_SETS, AutoMLState, Candidate
from springboard.errors import ValidationError

ACCOUNT = "000000000000"
REGION = "local"

SortBy = Literal["CreationTime", "Status", "FinalObjectiveMetricValue"]
SortOrder = Literal["Ascending", "Descending"]


def arn(kind: str, name: str) -> str:
    # AWS lowercases resource names in ARNs.
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


def candidate_shape(candidate: Candidate, plan: Plan, state: AutoMLState) -> dict[str, Any]:
    """One AutoMLCandidate."""
    out: dict[str, Any] = {
        "CandidateName": candidate.name,
        "CandidateStatus": candidate.status,
        "ObjectiveStatus": candidate.objective_status,
        "CandidateSteps": [
            {
                "CandidateStepType": "AWS::SageMaker::TrainingJob",
                "CandidateStepArn": arn("training-job", candidate.name),
                "CandidateStepName": candidate.name,
            }
        ],
        "CreationTime": candidate.creation_time,
        "LastModifiedTime": candidate.last_modified_time or candidate.creation_time,
        "CandidateProperties": {
            "CandidateMetrics": [
                {"MetricName": name, "StandardMetricName": name, "Value": value, "Set": METRIC_SETS[name]}
                for name, value in sorted(candidate.metrics.items())
                if name in METRIC_SETS
            ],
        },
        # Springboard additions: what the candidate is.
        "BaseModelName": candidate.base_model_name,
        "HyperParameters": candidate.hyperparameters,
        "Warnings": list(candidate.warnings),
    }
    if candidate.end_time is not None:
        out["EndTime"] = candidate.end_time
    if candidate.failure_reason:
        out["FailureReason"] = candidate.failure_reason[:1024]
    if candidate.objective_status == "Succeeded" and plan.objective in candidate.metrics:
        out["FinalAutoMLJobObjectiveMetric"] = {
            "Type": plan.direction,
            "MetricName": plan.objective,
            "Value": candidate.metrics[plan.objective],
            "StandardMetricName": plan.objective,
        }
    if candidate.model_data_url:
        out["InferenceContainers"] = [
            {
                "ModelDataUrl": candidate.model_data_url,
                "Environment": {"SPRINGBOARD_BASE_MODEL": candidate.base_model, "SPRINGBOARD_TASK": "text-generation"},
            }
        ]
    if state.report and candidate.name == state.best:
        out["CandidateProperties"]["CandidateArtifactLocations"] = {"ModelInsights": state.report_url or state.report}
    return out


def describe_auto_ml_job_v2(name: str) -> dict[str, Any]:
    job = get_automl_job(name)
    plan = Plan.model_validate(job.config["plan"])
    request = job.config["request"]
    state = AutoMLState.load(job.job_dir)
    out: dict[str, Any] = {
        "AutoMLJobName": job.name,
        "AutoMLJobArn": arn("automl-job", job.name),
        "AutoMLJobInputDataConfig": request["AutoMLJobInputDataConfig"],
        "OutputDataConfig": request.get("OutputDataConfig", {"S3OutputPath": job.output_dir}),
        "AutoMLJobObjective": {"MetricName": plan.objective},
        "AutoMLProblemTypeConfig": request["AutoMLProblemTypeConfig"],
        "AutoMLProblemTypeConfigName": "TextGeneration",
        "CreationTime": job.creation_time,
        "LastModifiedTime": job.last_modified_time,
        "AutoMLJobStatus": job.status,
        "AutoMLJobSecondaryStatus": job.secondary_status,
        "ResolvedAttributes": {
            "AutoMLJobObjective": {"MetricName": plan.objective},
            "CompletionCriteria": {
                k: v
                for k, v in {
                    "MaxCandidates": plan.max_candidates,
                    "MaxRuntimePerTrainingJobInSeconds": plan.max_runtime_per_training_job,
                    "MaxAutoMLJobRuntimeInSeconds": plan.max_job_runtime,
                }.items()
                if v is not None
            },
            "AutoMLProblemTypeResolvedAttributes": {
                "TextGenerationResolvedAttributes": {"BaseModelName": plan.base_models[0].name}
            },
        },
        "DataSplitConfig": {"ValidationFraction": plan.validation_fraction}
        if plan.validation_fraction is not None
        else request.get("DataSplitConfig", {}),
        # The secondary statuses the job went through (Springboard addition, as training jobs have).
        "AutoMLJobSecondaryStatusTransitions": [
            {"Status": t.status, "StartTime": t.start_time, "EndTime": t.end_time, "StatusMessage": t.message}
            for t in job.transitions
        ],
    }
    if job.end_time is not None:
        out["EndTime"] = job.end_time
    if job.failure_reason:
        out["FailureReason"] = job.failure_reason[:1024]
    failures = list(state.partial_failures) + [
        f"{c.name}: {c.failure_reason}" for c in state.candidates if c.status == "Failed" and c.failure_reason
    ]
    if failures:
        out["PartialFailureReasons"] = [{"PartialFailureMessage": f[:1024]} for f in failures[:5]]
    best = state.candidate(state.best) if state.best else None
    if best is not None:
        out["BestCandidate"] = candidate_shape(best, plan, state)
    if "ModelDeployConfig" in request:
        out["ModelDeployConfig"] = request["ModelDeployConfig"]
    if state.endpoint_name:
        out["ModelDeployResult"] = {"EndpointName": state.endpoint_name}
    return out


def list_candidates_for_auto_ml_job(
    name: str,
    status_equals: str | None = None,
    candidate_name_equals: str | None = None,
    sort_by: SortBy | None = None,
    sort_order: SortOrder | None = None,
    max_results: int | None = None,
) -> dict[str, Any]:
    """`{"Candidates": [...]}`. Sorting by FinalObjectiveMetricValue puts the best first
    unless a SortOrder is given; candidates without an objective value come last."""
    job = get_automl_job(name)
    plan = Plan.model_validate(job.config["plan"])
    state = AutoMLState.load(job.job_dir)
    if sort_by is not None and sort_by not in ("CreationTime", "Status", "FinalObjectiveMetricValue"):
        raise ValidationError(
            f"1 validation error detected: Value '{sort_by}' at 'sortBy' failed to satisfy constraint: "
            "Member must satisfy enum value set: [CreationTime, Status, FinalObjectiveMetricValue]"
        )
    if sort_order is not None and sort_order not in ("Ascending", "Descending"):
        raise ValidationError(
            f"1 validation error detected: Value '{sort_order}' at 'sortOrder' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Ascending, Descending]"
        )
    candidates = [
        c for c in state.candidates
        if (status_equals is None or c.status == status_equals)
        and (candidate_name_equals is None or c.name == candidate_name_equals)
    ]
    if sort_by == "FinalObjectiveMetricValue":
        scored = [c for c in candidates if c.objective_status == "Succeeded" and plan.objective in c.metrics]
        rest = [c for c in candidates if c not in scored]
        descending = sort_order == "Descending" if sort_order else plan.direction == "Maximize"
        scored.sort(key=lambda c: c.metrics[plan.objective], reverse=descending)
        candidates = scored + rest
    else:
        key = (lambda c: c.status) if sort_by == "Status" else (lambda c: c.creation_time)
        candidates.sort(key=key, reverse=sort_order == "Descending")
    if max_results is not None:
        candidates = candidates[:max_results]
    return {"Candidates": [candidate_shape(c, plan, state) for c in candidates]}


def list_auto_ml_jobs(status_equals: str | None = None, name_contains: str | None = None) -> dict[str, Any]:
    summaries = []
    for job in jobs.JobStore().list(kind=KIND, status=status_equals):
        if name_contains and name_contains.lower() not in job.name.lower():
            continue
        job = jobs.refresh(job.name)
        summary: dict[str, Any] = {
            "AutoMLJobName": job.name,
            "AutoMLJobArn": arn("automl-job", job.name),
            "AutoMLJobStatus": job.status,
            "AutoMLJobSecondaryStatus": job.secondary_status,
            "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time,
        }
        if job.end_time is not None:
            summary["EndTime"] = job.end_time
        if job.failure_reason:
            summary["FailureReason"] = job.failure_reason[:1024]
        summaries.append(summary)
    return {"AutoMLJobSummaries": summaries}
