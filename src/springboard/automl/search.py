"""Choosing candidates. Autopilot's default is one candidate (the base model with the request's
hyperparameters); with MaxCandidates > 1 an Optuna study proposes each next candidate (TPE,
seeded, so the same request gives the same candidates) over the base models and the search
space, and a median pruner stops a candidate whose intermediate validation loss is worse than
the median of the finished candidates at the same step."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from springboard.automl.plan import Plan
from springboard.automl.state import AutoMLState, Candidate

log = logging.getLogger("springboard.automl")

BASE_MODEL_PARAM = "BaseModel"


@dataclass
class Proposal:
    base_model: str  # hub id
    hyperparameters: dict[str, str]  # Autopilot names
    trial: Any = None  # optuna.Trial in a search


def finished(candidate: Candidate) -> bool:
    """Done for good: completed, failed, or stopped by the search itself (pruned, a budget).
    A candidate stopped with its AutoML job, or cut off by a crash, continues on resume."""
    if candidate.status == "Completed":
        return candidate.objective_status != "Pending"  # else it still needs its evaluation
    if candidate.status == "Failed":
        return True
    return candidate.status == "Stopped" and candidate.stop_reason not in (None, "Stopped")


class Search:
    """Proposes candidates and takes their results. Without a search (one candidate) it proposes
    the request's own configuration once."""

    def __init__(self, plan: Plan, state: AutoMLState) -> None:
        self.plan = plan
        self.study = None
        if not plan.searching:
            return
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = (
            optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
            if plan.pruning
            else optuna.pruners.NopPruner()
        )
        self.study = optuna.create_study(
            direction=plan.direction.lower(), sampler=optuna.samplers.TPESampler(seed=plan.seed), pruner=pruner
        )
        for candidate in state.candidates:  # a resumed job: what is known counts
            if finished(candidate):
                self._replay(candidate)

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        if len(self.plan.base_models) > 1:
            out[BASE_MODEL_PARAM] = CategoricalDistribution([m.model_id for m in self.plan.base_models])
        for dim in self.plan.search:
            if dim.kind == "categorical":
                out[dim.name] = CategoricalDistribution(dim.values or [])
            elif dim.kind == "int":
                out[dim.name] = IntDistribution(int(dim.low or 0), int(dim.high or 0), log=dim.log)
            else:
                out[dim.name] = FloatDistribution(dim.low or 0.0, dim.high or 0.0, log=dim.log)
        return out

    def propose(self) -> Proposal:
        if self.study is None:
            return Proposal(self.plan.base_models[0].model_id, dict(self.plan.fixed))
        trial = self.study.ask(self.distributions())
        base = trial.params.get(BASE_MODEL_PARAM, self.plan.base_models[0].model_id)
        values = dict(self.plan.fixed)
        for dim in self.plan.search:
            value = trial.params[dim.name]
            values[dim.name] = f"{value:.6g}" if isinstance(value, float) else str(value)
        return Proposal(base, values, trial)

    def report(self, proposal: Proposal, step: int, value: float) -> bool:
        """Tells the pruner an intermediate validation loss; True when the candidate should stop."""
        if proposal.trial is None:
            return False
        proposal.trial.report(value, step)
        return proposal.trial.should_prune()

    def tell(self, proposal: Proposal, candidate: Candidate) -> None:
        if self.study is None or proposal.trial is None:
            return
        from optuna.trial import TrialState

        value = candidate.metrics.get(self.plan.objective) if candidate.status == "Completed" else None
        if value is not None:
            self.study.tell(proposal.trial, value)
        elif candidate.stop_reason == "Pruned":
            self.study.tell(proposal.trial, state=TrialState.PRUNED)
        else:
            self.study.tell(proposal.trial, state=TrialState.FAIL)

    def resume(self, candidate: Candidate) -> Proposal:
        """The proposal of a candidate interrupted with its AutoML job: same configuration, in a
        new trial of this (re-created) study."""
        trial = None
        if self.study is not None:
            self.study.enqueue_trial(self._params_of(candidate))
            trial = self.study.ask(self.distributions())
        return Proposal(candidate.base_model, dict(candidate.hyperparameters), trial)

    def _params_of(self, candidate: Candidate) -> dict[str, Any]:
        import optuna

        params: dict[str, Any] = {}
        for name, dist in self.distributions().items():
            raw = candidate.base_model if name == BASE_MODEL_PARAM else candidate.hyperparameters[name]
            if isinstance(dist, optuna.distributions.IntDistribution):
                params[name] = int(raw)
            elif isinstance(dist, optuna.distributions.FloatDistribution):
                params[name] = float(raw)
            else:
                params[name] = raw
        return params

    def _replay(self, candidate: Candidate) -> None:
        import optuna
        from optuna.trial import TrialState

        dists = self.distributions()
        params = self._params_of(candidate)
        value = candidate.metrics.get(self.plan.objective) if candidate.status == "Completed" else None
        state = TrialState.COMPLETE if value is not None else (
            TrialState.PRUNED if candidate.stop_reason == "Pruned" else TrialState.FAIL
        )
        self.study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=value, state=state,
                intermediate_values={int(k): v for k, v in candidate.intermediate.items()},
            )
        )
