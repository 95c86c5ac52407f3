"""Seed 002 with the real SageMaker SDK: a JumpStart text-generation model fine-tuned two ways —
instruction tuning on Dolly-style records (`instruction`, `context`, `response`) with the seed's
`template.json`, and domain adaptation on raw text (`instruction_tuned="False"`) — each deployed
and queried with the seed's `{"inputs", "parameters"}` payload and `accept_eula=true`.

The seed fine-tunes Mistral 7B / Llama 2 7B; this runs the same code on the default model,
`smollm2-135m-instruct`, sized for a CPU (a 7B id works the same once its weights are
registered with `springboard models register`). Data that ships with Python stands in for Dolly
and for the seed's SEC filings: standard-library docstrings and the language reference.

    .venv/bin/python examples/dolly_and_domain_adaptation.py
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import pydoc_data.topics

from sagemaker_local import ROLE, local_sagemaker

# The seed's template: the Alpaca/Dolly prompt, with and without an input section.
TEMPLATE = {
    "prompt": "Below is an instruction that describes a task, paired with an input that provides further "
              "context. Write a response that appropriately completes the request.\n\n"
              "### Instruction:\n{instruction}\n\n### Input:\n{context}\n\n### Response:\n",
    "prompt_no_context": "Below is an instruction that describes a task. Write a response that appropriately "
                         "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n",
    "completion": "{response}",
}


def write_dolly(directory: Path, n: int) -> None:
    """Dolly-style records: summarize a docstring (with context), or say what a module is for
    (without)."""
    from springboard.quickstart.dataset import build

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "train.jsonl", "w") as f:
        for i, e in enumerate(build()[:n]):
            if i % 4 == 3:
                record = {"instruction": f"What does the Python object {e.id} do?", "context": "",
                          "response": e.summary}
            else:
                record = {"instruction": "Summarize this Python documentation in one sentence.",
                          "context": e.documentation, "response": e.summary}
            f.write(json.dumps(record) + "\n")
    (directory / "template.json").write_text(json.dumps(TEMPLATE))


def write_domain_text(directory: Path, topics: int) -> None:
    """One text file of Python language-reference topics: the domain corpus."""
    items = sorted((k, v) for k, v in pydoc_data.topics.topics.items() if len(v.split()) > 150)
    random.Random(0).shuffle(items)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "reference.txt").write_text("\n\n".join(text.strip() for _, text in items[:topics]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="dolly-and-domain-adaptation-output")
    parser.add_argument("--dolly-examples", type=int, default=96)
    parser.add_argument("--domain-topics", type=int, default=12)
    parser.add_argument("--max-train-samples", default="-1", help="cap on training examples/blocks per job")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--s3-endpoint-url")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workdir = Path(args.workdir)

    with local_sagemaker(workdir, args.endpoint_url, args.s3_endpoint_url) as local:
        from sagemaker.jumpstart.estimator import JumpStartEstimator

        write_dolly(workdir / "data" / "dolly", args.dolly_examples)
        write_domain_text(workdir / "data" / "domain", args.domain_topics)
        dolly_uri = local.upload_dir(workdir / "data" / "dolly", "seed002/dolly")
        domain_uri = local.upload_dir(workdir / "data" / "domain", "seed002/domain")

        # --- the seed's notebook ---
        common = {"epoch": "1", "learning_rate": "0.0005", "per_device_train_batch_size": "4",
                  "max_input_length": "256", "validation_split_ratio": "0.1",
                  "max_train_samples": args.max_train_samples}
        instruction = JumpStartEstimator(model_id=args.model_id, role=ROLE, environment={"accept_eula": "true"},
                                         hyperparameters={**common, "instruction_tuned": "True"})
        instruction.fit({"training": dolly_uri})
        domain = JumpStartEstimator(model_id=args.model_id, role=ROLE, environment={"accept_eula": "true"},
                                    hyperparameters={**common, "instruction_tuned": "False"})
        domain.fit({"training": domain_uri})
        from sagemaker import TrainingJobAnalytics

        curves = {label: TrainingJobAnalytics(training_job_name=est.latest_training_job.name).dataframe()
                  for label, est in (("instruction", instruction), ("domain", domain))}
        for label, frame in curves.items():
            print(f"\n--- {label} training metrics\n{frame}")

        results = {}
        queries = {
            "instruction": TEMPLATE["prompt_no_context"].format(
                instruction="What does the Python object json.dumps do?"),
            "domain": "A generator expression yields",
        }
        for label, estimator in (("instruction", instruction), ("domain", domain)):
            predictor = estimator.deploy(endpoint_name=f"seed002-{label}")
            payload = {"inputs": queries[label],
                       "parameters": {"max_new_tokens": 48, "top_p": 0.9, "temperature": 0.6, "seed": 1}}
            response = predictor.predict(payload, custom_attributes="accept_eula=true")
            results[label] = response[0]["generated_text"].strip()
            print(f"\n--- {label} ({estimator.latest_training_job.name})\n{queries[label]}\n>>> {results[label]}")
            predictor.delete_model()
            predictor.delete_endpoint()
        # --- end of the seed's code ---

        report = {"model_id": args.model_id, "answers": results,
                  "metrics": {label: sorted(set(frame["metric_name"])) for label, frame in curves.items()},
                  "training_jobs": {"instruction": instruction.latest_training_job.name,
                                    "domain": domain.latest_training_job.name},
                  "minutes": round((time.perf_counter() - t0) / 60, 1)}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))
        print(f"\nreport: {workdir / 'report.json'}")


if __name__ == "__main__":
    main()
