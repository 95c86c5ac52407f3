"""Function-level API: a transform job's config from a model, an input and an output
(`transform_config`), started with `jobs.submit` and watched with `jobs.watch`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from springboard.transform.config import TransformConfig, make_config


def transform_config(
    model: str,
    input: str | Path,
    output: str | Path,
    env: dict[str, str] | None = None,
    **knobs: Any,
) -> TransformConfig:
    """A transform job's config (`knobs`: any TransformConfig field, e.g. content_type,
    split_type, batch_strategy, max_payload, assemble_with, accept, join_source, input_filter,
    output_filter, on_error, chat, instance_count, max_concurrent_transforms, runner, master).
    `input`/`output`: local paths (made absolute: the job runs elsewhere), file:// or s3://
    locations."""
    return make_config(
        model=_abs_if_path(str(model)),
        input=_abs_location(input),
        output=_abs_location(output),
        environment=dict(env or {}),
        **knobs,
    )


def _abs_location(location: str | Path) -> str:
    """Local locations become absolute (the job runs elsewhere); s3:// ones stay as given."""
    from springboard import storage

    text = str(location)
    if storage.is_remote(text):
        return text
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


def _abs_if_path(model: str) -> str:
    """A relative model path must keep working when the job is resumed from elsewhere."""
    path = Path(model.removeprefix("file://")).expanduser()
    return str(path.resolve()) if path.exists() else model
