"""A pipeline is a plain list of steps; a step is a small class with one generator method over
rows and its own counters (datatrove's `PipelineStep`). Runners, not steps, decide where the
rows come from and where they go.

A row is a dict. The default job's rows carry `url`, `html` (bytes, until an extractor turns
it into `text`), `text`, `language` and the record's location.

`scope = "row"` steps see one input file's rows at a time and run inside the workers.
`scope = "global"` steps (dedup) need every row at once. Such a step names each row's keys
(`row_keys`): a row is dropped when one of its keys stood on an earlier row in input order.
`run` applies that rule to rows read in order; a runner applies it at scale with its
executor's `reduce_by_key` (each key's first row), whichever executor that is."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Literal

from springboard.crawl.record import Counters, Row


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Step:
    scope: Literal["row", "global"] = "row"
    name: str = ""

    def __init__(self) -> None:
        self.stats = Counters()
        if not self.name:
            self.name = _snake(type(self).__name__)

    def run(self, rows: Iterable[Row]) -> Iterator[Row]:
        raise NotImplementedError

    def row_keys(self, row: Row) -> list[str]:
        """A global step's keys of `row` (see the module's note)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The step's configuration, for printing a run's whole setup."""
        return {"step": type(self).__name__, **{k: v for k, v in vars(self).items()
                                               if k not in ("stats", "name") and not k.startswith("_")}}


class Filter(Step):
    """Keeps or drops whole rows. `filter` answers True, or False / (False, reason)."""

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        raise NotImplementedError

    def run(self, rows: Iterable[Row]) -> Iterator[Row]:
        for row in rows:
            verdict = self.filter(row)
            keep, reason = (verdict, self.name) if isinstance(verdict, bool) else verdict
            if keep:
                self.stats["kept"] += 1
                yield row
            else:
                self.stats[f"dropped.{reason}"] += 1


def run_pipeline(steps: Iterable[Step], rows: Iterable[Row]) -> Iterator[Row]:
    for step in steps:
        rows = step.run(rows)
    yield from rows


def step_counters(steps: Iterable[Step]) -> Counters:
    """Each step's counters, prefixed with its name (`gopher_quality.dropped.gopher_short_doc`)."""
    out = Counters()
    for step in steps:
        for key, value in step.stats.items():
            out[f"{step.name}.{key}"] += value
    return out
