"""Seed 001 with the real SageMaker SDK: batch transform over a JSON Lines file of
`{"id", "text_inputs"}` records on S3, the same prompts through a real-time endpoint in one
batched request, and ROUGE of both against the references joined on `id`.

The seed summarizes news articles with FLAN-T5; this summarizes standard-library documentation
(it ships with Python) with the default model, `smollm2-135m-instruct`, sized for a CPU. The
transform and endpoint code is the seed's: `HYPER_PARAMS` as `str(dict)`, `accept="text/csv"`,
output lines read with `ast.literal_eval`.

    .venv/bin/python examples/batch_transform_rouge.py
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

from sagemaker_local import ROLE, local_sagemaker

PROMPT = "Summarize this Python documentation in one sentence.\n\n{documentation}\n\nSummary:"


def write_records(path: Path, n: int) -> tuple[dict[int, str], dict[int, str]]:
    """The input file; the prompts and the references, by id."""
    from springboard.quickstart.dataset import build

    path.parent.mkdir(parents=True, exist_ok=True)
    prompts, references = {}, {}
    with open(path, "w") as f:
        for i, e in enumerate(build()[:n]):
            prompts[i], references[i] = PROMPT.format(documentation=e.documentation), e.summary
            f.write(json.dumps({"id": i, "text_inputs": prompts[i]}) + "\n")
    return prompts, references


def rouge(predictions: dict, references: dict) -> dict[str, float]:
    from rouge_score import rouge_scorer

    kinds = ["rouge1", "rouge2", "rougeL"]
    scorer = rouge_scorer.RougeScorer(kinds, use_stemmer=True)
    scores = [scorer.score(references[k], predictions[k]) for k in references]
    return {k: round(sum(s[k].fmeasure for s in scores) / len(scores), 4) for k in kinds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-id", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="batch-transform-rouge-output")
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--s3-endpoint-url")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workdir = Path(args.workdir)

    with local_sagemaker(workdir, args.endpoint_url, args.s3_endpoint_url) as local:
        from sagemaker.jumpstart.model import JumpStartModel

        prompts, references = write_records(workdir / "data" / "articles.jsonl", args.records)
        input_uri = local.upload_dir(workdir / "data", "batch/input")
        output_uri = f"{local.bucket}/batch/output"

        # --- the seed's notebook ---
        hyper_params = {"batch_size": 4, "max_length": 48, "do_sample": False}
        model = JumpStartModel(model_id=args.model_id, role=ROLE)
        transformer = model.transformer(
            instance_count=1, instance_type="ml.m5.xlarge", output_path=output_uri,
            assemble_with="Line", accept="text/csv",
            env={"HYPER_PARAMS": str(hyper_params)},
        )
        transformer.transform(input_uri, content_type="application/jsonlines", split_type="Line")
        transformer.wait()

        batch: dict = {}
        for line in local.read_text(f"{output_uri}/articles.jsonl.out").splitlines():
            if line.strip():
                record = ast.literal_eval(line)
                batch[record["id"]] = record["generated_texts"][0].strip().split("\n")[0]

        predictor = model.deploy(endpoint_name="seed001-realtime")
        realtime: dict = {}
        ids = sorted(references)
        for start in range(0, len(ids), 8):  # real-time batch: several inputs in one request
            chunk = ids[start : start + 8]
            out = predictor.predict({"text_inputs": [prompts[i] for i in chunk], "max_length": 48, "do_sample": False})
            for i, text in zip(chunk, out["generated_texts"]):
                realtime[i] = text.strip().split("\n")[0]
        predictor.delete_model()
        predictor.delete_endpoint()
        # --- end of the seed's code ---

        scores = {"batch_transform": rouge(batch, references), "real_time": rouge(realtime, references)}
        for i in ids[:3]:
            print(f"\n--- id {i}\nreference: {references[i]}\nbatch:     {batch[i]}\nreal-time: {realtime[i]}")
        report = {"model_id": args.model_id, "records": len(references), "rouge": scores,
                  "transform_job": transformer.latest_transform_job.name,
                  "minutes": round((time.perf_counter() - t0) / 60, 1)}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))
        print("\nROUGE (mean F):", json.dumps(scores), f"\nreport: {workdir / 'report.json'}")


if __name__ == "__main__":
    main()
