"""Training checkpoints: trainable weights, optimizer, scheduler, RNG and position. Written
to a temporary directory and renamed, so a kill mid-save never leaves a torn checkpoint."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

META = "meta.json"


@dataclass
class Position:
    """Where training stands: `batch` batches of `epoch` are done; `global_step` optimizer steps."""

    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    tokens_seen: int = 0


def save(
    directory: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    position: Position,
    keep: int = 2,
) -> Path:
    trainable = {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}
    return write(directory, trainable, optimizer.state_dict(), scheduler.state_dict(), position, keep)


def write(
    directory: Path,
    trainable: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    scheduler_state: dict[str, Any],
    position: Position,
    keep: int = 2,
) -> Path:
    """Writes already-gathered state (`save` for one process; sharded FSDP ranks gather first)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{position.global_step:08d}-e{position.epoch}-b{position.batch}"
    tmp = directory / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(
        {
            "trainable": trainable,
            "optimizer": optimizer_state,
            "scheduler": scheduler_state,
            "rng": {
                "python": random.getstate(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
        },
        tmp / "state.pt",
    )
    (tmp / META).write_text(json.dumps(asdict(position)))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(_complete(directory))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(directory: Path) -> list[Path]:
    return [p for p in directory.glob("step-*") if (p / META).exists() and (p / "state.pt").exists()]


def latest(directory: Path) -> Path | None:
    found = sorted(_complete(directory)) if directory.exists() else []
    return found[-1] if found else None


def read(path: Path) -> tuple[dict[str, Any], Position]:
    # weights_only: a checkpoint is data; unpickling arbitrary objects from it could run code.
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    return state, Position(**json.loads((path / META).read_text()))


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["rng"]["python"])
    torch.set_rng_state(state["rng"]["torch"])
    if state["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])


def load(path: Path, model: torch.nn.Module, optimizer, scheduler) -> Position:
    state, position = read(path)
    missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in state["trainable"]]
    if missing:
        raise RuntimeError(f"checkpoint {path} does not match the model (missing {missing[:3]})")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    restore_rng(state)
    return position
