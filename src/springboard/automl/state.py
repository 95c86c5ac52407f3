"""What an AutoML job knows about its candidates, kept in `automl.json` in the job's directory.
The job's worker writes it (atomically) after every change; describe and list-candidates read it.
A resumed job reads it back and carries on with the candidates it already has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from springboard.automl.channels import DataSummary

STATE_FILE = "automl.json"

CandidateStatus = Literal["InProgress", "Completed", "Failed", "Stopped", "Stopping"]
ObjectiveStatus = Literal["Succeeded", "Pending", "Failed"]

# Where each standard metric comes from: the training set or the validation set.
METRIC_SETS = {
    "TrainingLoss": "Train",
    "ValidationLoss": "Validation",
    "Perplexity": "Validation",
    "Rouge1": "Validation",
    "Rouge2": "Validation",
    "RougeL": "Validation",
    "RougeLSum": "Validation",
}


class Candidate(BaseModel):
    name: str  # CandidateName == its training job's name
    index: int
    trial: int | None = None  # Optuna trial number in a search
    base_model_name: str  # as the request named it
    base_model: str  # hub id
    hyperparameters: dict[str, str]  # Autopilot's names (loraRank included in a search)
    training_hyperparameters: dict[str, str]  # as the trainer got them
    status: CandidateStatus = "InProgress"
    objective_status: ObjectiveStatus = "Pending"
    failure_reason: str | None = None
    stop_reason: str | None = None  # Pruned, MaxRuntimePerTrainingJobInSeconds, MaxAutoMLJobRuntimeInSeconds, Stopped
    metrics: dict[str, float] = Field(default_factory=dict)  # standard metric name -> value
    intermediate: dict[int, float] = Field(default_factory=dict)  # step -> val_loss told to the pruner
    artifact: str | None = None  # local model directory
    model_data_url: str | None = None  # where the model is for users: the copy under S3OutputPath, else local
    predictions_file: str | None = None
    # Why the candidate's schedule cannot teach the model, if it cannot (train/schedule.py).
    warnings: list[str] = Field(default_factory=list)
    creation_time: float
    end_time: float | None = None
    last_modified_time: float | None = None


class AutoMLState(BaseModel):
    candidates: list[Candidate] = Field(default_factory=list)
    data: DataSummary | None = None
    best: str | None = None
    search_ended_by: str | None = None  # MaxCandidatesReached / MaxAutoMLJobRuntimeReached
    report: str | None = None
    report_url: str | None = None
    endpoint_name: str | None = None
    partial_failures: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, job_dir: Path) -> AutoMLState:
        path = Path(job_dir) / STATE_FILE
        if not path.exists():
            return cls()
        return cls.model_validate_json(path.read_text())

    def save(self, job_dir: Path) -> None:
        path = Path(job_dir) / STATE_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.model_dump(mode="json"), indent=2))
        tmp.replace(path)  # readers never see half a file

    def candidate(self, name: str) -> Candidate | None:
        return next((c for c in self.candidates if c.name == name), None)

    def upsert(self, candidate: Candidate) -> None:
        for i, c in enumerate(self.candidates):
            if c.name == candidate.name:
                self.candidates[i] = candidate
                return
        self.candidates.append(candidate)
