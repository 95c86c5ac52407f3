"""AutoML text generation (SageMaker Autopilot's CreateAutoMLJobV2 with TextGenerationJobConfig):
request validation, candidates as training jobs, the best pick by the objective, the model
insights report and the optional deployment.

- `create_auto_ml_job_v2(request)`, `describe_auto_ml_job_v2(name)`,
  `list_candidates_for_auto_ml_job(name, ...)`, `stop_auto_ml_job(name)`, `list_auto_ml_jobs()`
- `AutoMLV2`, `AutoMLTextGenerationConfig`, `AutoMLDataChannel` (SageMaker SDK style) are
  in `springboard.sdk` (and `springboard`), which stands on this room
- `load_request(path)` (JSON or YAML), `parse_request(dict)`
"""

from springboard.automl.describe import (
    describe_auto_ml_job_v2,
    list_auto_ml_jobs,
    list_candidates_for_auto_ml_job,
)
from springboard.automl.job import create_auto_ml_job_v2, stop_auto_ml_job
from springboard.automl.request import CreateAutoMLJobV2Request, load_request, parse_request

__all__ = [
    "CreateAutoMLJobV2Request",
    "create_auto_ml_job_v2",
    "describe_auto_ml_job_v2",
    "list_auto_ml_jobs",
    "list_candidates_for_auto_ml_job",
    "load_request",
    "parse_request",
    "stop_auto_ml_job",
]
