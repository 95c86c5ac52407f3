"""Seed 000 with the real SageMaker SDK: instruction-tune a JumpStart model on a data set with a
`template.json`, deploy the pre-trained and the fine-tuned model, and compare them on held-out
examples (side by side, and ROUGE).

The seed fine-tunes FLAN-T5; this runs the same code on the default model,
`smollm2-135m-instruct` (the only one whose weights ship offline), sized for a CPU in minutes.
Everything below the `local_sagemaker` line is plain `sagemaker` SDK code as on SageMaker.

    .venv/bin/python examples/jumpstart_instruction_tuning.py
    .venv/bin/python examples/jumpstart_instruction_tuning.py --endpoint-url http://127.0.0.1:8080 \\
        --s3-endpoint-url http://127.0.0.1:9000     # a running server and your S3 / MinIO
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sagemaker_local import ROLE, local_sagemaker

PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}\n\nSummary:"


def write_data(workdir: Path, n_train: int, n_test: int) -> tuple[Path, list[dict]]:
    """train/data.jsonl + train/template.json (JumpStart's instruction-tuning layout), and the
    held-out examples: the body of a standard-library docstring and its one-line summary."""
    from springboard.quickstart.dataset import build

    examples = build()
    test, train = examples[:n_test], examples[n_test : n_test + n_train]
    train_dir = workdir / "train"
    train_dir.mkdir(parents=True, exist_ok=True)
    with open(train_dir / "data.jsonl", "w") as f:
        for e in train:
            f.write(json.dumps({"documentation": e.documentation, "summary": e.summary}) + "\n")
    (train_dir / "template.json").write_text(json.dumps({"prompt": PROMPT, "completion": " {summary}"}))
    return train_dir, [{"prompt": PROMPT.format(documentation=e.documentation), "summary": e.summary} for e in test]


def first_line(text: str) -> str:
    """The answer's first non-empty line: the summary asked for, without what follows it."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def rouge_l(predictions: list[str], references: list[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return sum(scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)) / len(references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="jumpstart-instruction-tuning-output")
    parser.add_argument("--train-examples", type=int, default=160)
    parser.add_argument("--test-examples", type=int, default=12)
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--endpoint-url", help="a running Springboard server (default: start one)")
    parser.add_argument("--s3-endpoint-url", help="an S3-compatible store (default: start moto's)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workdir = Path(args.workdir)

    with local_sagemaker(workdir, args.endpoint_url, args.s3_endpoint_url) as local:
        from sagemaker import TrainingJobAnalytics
        from sagemaker.jumpstart.estimator import JumpStartEstimator
        from sagemaker.jumpstart.filters import And
        from sagemaker.jumpstart.model import JumpStartModel
        from sagemaker.jumpstart.notebook_utils import list_jumpstart_models

        train_dir, test = write_data(workdir / "data", args.train_examples, args.test_examples)
        train_uri = local.upload_dir(train_dir, "instruction-tuning/train")

        # --- the seed's notebook, unchanged but for sizes ---
        filter_value = And("task == text2text", "framework == huggingface", "training_supported == true")
        text2text_models = list_jumpstart_models(filter=filter_value)
        print("fine-tunable text2text models:", text2text_models)
        pretrained_model = JumpStartModel(model_id=args.model_id, role=ROLE)
        pretrained = pretrained_model.deploy(endpoint_name="seed000-pretrained")

        estimator = JumpStartEstimator(
            model_id=args.model_id, role=ROLE,
            hyperparameters={"instruction_tuned": "True", "epoch": args.epochs, "learning_rate": "0.0005",
                             "per_device_train_batch_size": "8", "lora_r": "16", "max_input_length": "256",
                             "validation_split_ratio": "0.1"},
            metric_definitions=[{"Name": "train:loss", "Regex": "'loss': ([0-9\\.]+)"},
                                {"Name": "eval:loss", "Regex": "'eval_loss': ([0-9\\.]+)"},
                                {"Name": "train:epoch", "Regex": "'epoch': ([0-9\\.]+)"}],
        )
        estimator.fit({"training": train_uri})
        curves = TrainingJobAnalytics(training_job_name=estimator.latest_training_job.name,
                                      metric_names=["train:loss", "eval:loss", "train:epoch"]).dataframe()
        print(curves)
        finetuned = estimator.deploy(endpoint_name="seed000-finetuned")

        parameters = {"max_new_tokens": 40, "do_sample": False}
        outputs: dict[str, list[str]] = {"pre-trained": [], "fine-tuned": []}
        for example in test:
            for label, predictor in (("pre-trained", pretrained), ("fine-tuned", finetuned)):
                answer = predictor.predict({"inputs": example["prompt"], "parameters": parameters})
                outputs[label].append(first_line(answer[0]["generated_text"]))
        for i, example in enumerate(test[:3]):
            print(f"\n--- example {i + 1}\nreference:   {example['summary']}\n"
                  f"pre-trained: {outputs['pre-trained'][i]}\nfine-tuned:  {outputs['fine-tuned'][i]}")
        references = [e["summary"] for e in test]
        scores = {label: round(rouge_l(preds, references), 4) for label, preds in outputs.items()}
        for predictor in (pretrained, finetuned):
            predictor.delete_model()
            predictor.delete_endpoint()
        # --- end of the seed's code ---

        report = {"model_id": args.model_id, "training_job": estimator.latest_training_job.name,
                  "text2text_models": text2text_models, "metrics": sorted(set(curves["metric_name"])),
                  "rougeL": scores, "test_examples": len(test), "minutes": round((time.perf_counter() - t0) / 60, 1)}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))
        print("\nROUGE-L (mean F):", json.dumps(scores), f"\nreport: {workdir / 'report.json'}")


if __name__ == "__main__":
    main()
