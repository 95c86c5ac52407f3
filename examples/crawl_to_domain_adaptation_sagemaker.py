"""Seed 004 with the real SageMaker SDK: web crawl → text → domain adaptation.

The crawl half is `examples/crawl_to_finetune.py` (WARC files built offline → cc-index → SQL →
extract, filter, dedup → one JSONL training file); this script runs it, uploads the exported
text to S3 and fine-tunes with `JumpStartEstimator(..., hyperparameters={"instruction_tuned":
"False"})` as the seed does after its Spark job, then deploys the base and the adapted model and
completes the same prompts with both.

The seed adapts a 7B model; this adapts the default model, `smollm2-135m-instruct`, sized for a CPU.

    .venv/bin/python examples/crawl_to_domain_adaptation_sagemaker.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from sagemaker_local import ROLE, local_sagemaker

PROMPTS = ["The for statement is used to", "An expression statement is"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="crawl-to-domain-adaptation-output")
    parser.add_argument("--pages", type=int, default=120, help="generated web pages to crawl")
    parser.add_argument("--max-train-samples", default="48", help="packed 256-token blocks to train on")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--s3-endpoint-url")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workdir = Path(args.workdir).resolve()

    crawl_dir = workdir / "crawl"
    subprocess.run([sys.executable, str(Path(__file__).with_name("crawl_to_finetune.py")),
                    "--workdir", str(crawl_dir), "--pages", str(args.pages)], check=True)
    exported = sorted((crawl_dir / "train").glob("*.jsonl"))
    if len(exported) != 1:
        raise SystemExit(f"expected one exported training file under {crawl_dir / 'train'}, found {exported}")
    documents = sum(1 for _ in open(exported[0]))

    with local_sagemaker(workdir / "sagemaker", args.endpoint_url, args.s3_endpoint_url) as local:
        from sagemaker.jumpstart.estimator import JumpStartEstimator
        from sagemaker.jumpstart.model import JumpStartModel

        train_uri = local.upload_dir(crawl_dir / "train", "crawl/train")

        # --- the seed's notebook, after its Spark job ---
        estimator = JumpStartEstimator(
            model_id=args.model_id, role=ROLE,
            hyperparameters={"instruction_tuned": "False", "epoch": "1", "max_input_length": "256",
                             "learning_rate": "0.0003", "per_device_train_batch_size": "4",
                             "validation_split_ratio": "0.1", "max_train_samples": args.max_train_samples},
        )
        estimator.fit({"training": train_uri})
        adapted = estimator.deploy(endpoint_name="seed004-adapted")
        base = JumpStartModel(model_id=args.model_id, role=ROLE).deploy(endpoint_name="seed004-base")
        completions = []
        for prompt in PROMPTS:
            payload = {"inputs": prompt, "parameters": {"max_new_tokens": 32, "do_sample": False}}
            row = {"prompt": prompt,
                   "base": base.predict(payload)[0]["generated_text"].strip(),
                   "adapted": adapted.predict(payload)[0]["generated_text"].strip()}
            completions.append(row)
            print(f"\n{prompt}\n  base:    {row['base']}\n  adapted: {row['adapted']}")
        for predictor in (adapted, base):
            predictor.delete_model()
            predictor.delete_endpoint()
        # --- end of the seed's code ---

        report = {"model_id": args.model_id, "documents": documents, "training_job": estimator.latest_training_job.name,
                  "completions": completions, "minutes": round((time.perf_counter() - t0) / 60, 1)}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))
        print(f"\nreport: {workdir / 'report.json'}")


if __name__ == "__main__":
    main()
