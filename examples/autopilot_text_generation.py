"""Seed 003 with boto3, as the Autopilot notebook does it: CreateAutoMLJobV2 for text generation
→ DescribeAutoMLJobV2 until it ends → the best candidate → CreateModel from its inference
container → endpoint → InvokeEndpoint.

The seed fine-tunes `Falcon7BInstruct`; here `BaseModelName` is the default model,
`smollm2-135m-instruct` (any catalog id or Autopilot name with registered weights works), sized
for a CPU. The data is the seed's format: a CSV with an `input` and an `output` column.

    .venv/bin/python examples/autopilot_text_generation.py
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from sagemaker_local import ROLE, local_sagemaker


def write_csv(path: Path, rows: int) -> Path:
    """Questions about standard-library objects (their documentation → one-line summary)."""
    from springboard.quickstart.dataset import build

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["input", "output"])
        for e in build()[:rows]:
            writer.writerow([f"Summarize in one sentence: {e.documentation}", e.summary])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", default="smollm2-135m-instruct")
    parser.add_argument("--workdir", default="autopilot-text-generation-output")
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--epochs", default="1")
    parser.add_argument("--job-name", default="seed003-autopilot")
    parser.add_argument("--endpoint-url")
    parser.add_argument("--s3-endpoint-url")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workdir = Path(args.workdir)

    with local_sagemaker(workdir, args.endpoint_url, args.s3_endpoint_url) as local:
        import boto3

        write_csv(workdir / "data" / "train.csv", args.rows)
        train_uri = local.upload_dir(workdir / "data", "autopilot/train")
        sm = boto3.client("sagemaker")
        runtime = boto3.client("sagemaker-runtime")

        # --- the seed's notebook ---
        sm.create_auto_ml_job_v2(
            AutoMLJobName=args.job_name,
            AutoMLJobInputDataConfig=[{
                "ChannelType": "training",
                "ContentType": "text/csv;header=present",
                "CompressionType": "None",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": train_uri}},
            }],
            OutputDataConfig={"S3OutputPath": f"{local.bucket}/autopilot/output"},
            AutoMLProblemTypeConfig={"TextGenerationJobConfig": {
                "BaseModelName": args.base_model,
                "TextGenerationHyperParameters": {"epochCount": args.epochs, "batchSize": "8",
                                                  "learningRate": "0.0005", "learningRateWarmupSteps": "0"},
                "CompletionCriteria": {"MaxCandidates": 1, "MaxAutoMLJobRuntimeInSeconds": 3600},
            }},
            DataSplitConfig={"ValidationFraction": 0.1},
            RoleArn=ROLE,
        )
        while True:
            job = sm.describe_auto_ml_job_v2(AutoMLJobName=args.job_name)
            print(f"{job['AutoMLJobStatus']:<12} {job['AutoMLJobSecondaryStatus']}")
            if job["AutoMLJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(15)
        if job["AutoMLJobStatus"] != "Completed":
            raise SystemExit(f"AutoML job ended {job['AutoMLJobStatus']}: {job.get('FailureReason')}")
        best = job["BestCandidate"]
        metric = best["FinalAutoMLJobObjectiveMetric"]
        print(f"best candidate {best['CandidateName']}: {metric['MetricName']} = {metric['Value']:.4f}")

        model_name = f"{args.job_name}-best"
        sm.create_model(ModelName=model_name, ExecutionRoleArn=ROLE, Containers=best["InferenceContainers"])
        sm.create_endpoint_config(EndpointConfigName=model_name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model_name, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.xlarge"}])
        sm.create_endpoint(EndpointName=model_name, EndpointConfigName=model_name)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=model_name, WaiterConfig={"Delay": 5})
        prompt = "Summarize in one sentence: Return the lowest index in the list where the value is found."
        response = runtime.invoke_endpoint(
            EndpointName=model_name, ContentType="application/json",
            Body=json.dumps({"inputs": prompt, "parameters": {"max_new_tokens": 40, "do_sample": False}}))
        answer = json.loads(response["Body"].read())[0]["generated_text"]
        print(f"prompt: {prompt}\nanswer: {answer.strip()}")
        sm.delete_endpoint(EndpointName=model_name)
        sm.delete_endpoint_config(EndpointConfigName=model_name)
        sm.delete_model(ModelName=model_name)
        # --- end of the seed's code ---

        report = {"job": args.job_name, "base_model": args.base_model, "best_candidate": best["CandidateName"],
                  "objective": {metric["MetricName"]: metric["Value"]}, "answer": answer.strip(),
                  "minutes": round((time.perf_counter() - t0) / 60, 1)}
        (workdir / "report.json").write_text(json.dumps(report, indent=2))
        print(f"report: {workdir / 'report.json'}")


if __name__ == "__main__":
    main()
