"""`springboard deploy`, `springboard endpoints list|describe|delete`,
`springboard invoke`. (`springboard serve` runs the whole server: springboard.app.)"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone


def register(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser("deploy", help="create an endpoint for a model id, training job or path")
    d.add_argument("model", metavar="MODEL_ID|JOB_NAME|PATH")
    d.add_argument("--name", required=True, help="endpoint name")
    d.add_argument("--no-wait", action="store_true", help="return while the endpoint is Creating")
    d.add_argument("--accept-eula", action="store_true", help="accept the model's EULA for every request")
    d.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if present, else cpu)")
    d.add_argument("--dtype", help="DTYPE: float32, bfloat16 (float16 on CUDA) (default auto: README \"Precision\")")
    d.add_argument("--quantize", help="QUANTIZE: a GGUF type, e.g. q8_0, q4_1, q4_k_m (llama.cpp; default auto)")
    d.add_argument("--prompt-format", choices=["auto", "chat", "raw"],
                   help="SPRINGBOARD_PROMPT_FORMAT: how plain-text prompts reach the model (default auto: "
                        "the format it was trained in, else chat for instruct models; README \"Prompts\")")
    _batching_args(d)
    d.set_defaults(func=_deploy)

    e = subparsers.add_parser("endpoints", help="list, describe and delete endpoints")
    sub = e.add_subparsers(dest="endpoints_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="all endpoints").set_defaults(func=_list)
    ds = sub.add_parser("describe", help="one endpoint (JSON)")
    ds.add_argument("name")
    ds.set_defaults(func=_describe)
    dl = sub.add_parser("delete", help="delete an endpoint")
    dl.add_argument("name")
    dl.set_defaults(func=_delete)
    at = sub.add_parser("attach-adapter", help="attach a LoRA adapter (a training job's artifact) to an endpoint")
    at.add_argument("name", help="endpoint name")
    at.add_argument("adapter", help="the adapter's name (requests pick it: adapter_id, model=ENDPOINT:NAME, TargetModel)")
    at.add_argument("--artifact", required=True, metavar="JOB_OR_PATH", help="LoRA training job name or artifact dir")
    at.set_defaults(func=_attach_adapter)

    i = subparsers.add_parser("invoke", help="send a payload to an endpoint (the SageMaker runtime path)")
    i.add_argument("name")
    body = i.add_mutually_exclusive_group(required=True)
    body.add_argument("--json", help="a JSON payload, e.g. '{\"inputs\": \"Hello\"}'")
    body.add_argument("--text", help="a raw text payload (Content-Type application/x-text)")
    i.add_argument("--accept", default="application/json")
    i.add_argument("--custom-attributes", help="e.g. accept_eula=true")
    i.set_defaults(func=_invoke)


def _batching_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-batching", action="store_true", help="run requests one at a time")
    p.add_argument("--max-batch-size", type=int, default=16, help="rows per batched pass (default 16)")
    p.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a request waits for company")


def _deploy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from springboard.serve.registry import EndpointConfig
    from springboard.serve.server import ServerClient

    model = args.model
    if Path(model).expanduser().is_dir():  # the server may run elsewhere: send an absolute path
        model = str(Path(model).expanduser().resolve())
    config = EndpointConfig(
        name=args.name, model=model, batching=not args.no_batching, max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms, device=args.device, dtype=args.dtype, quantize=args.quantize,
        prompt_format=args.prompt_format, accept_eula=args.accept_eula,
    )
    client = ServerClient(start=True)
    record = client.create(config)
    print(f"endpoint {record.name}: {record.status} (server {client.url})")
    if args.no_wait:
        return 0
    record = client.wait(record.name)
    if record.status == "Failed":
        print(f"endpoint {record.name}: Failed: {record.failure_reason}", file=sys.stderr)
        return 1
    print(f"endpoint {record.name}: {record.status}")
    print(f"  invoke: {client.url}/endpoints/{record.name}/invocations   openai: {client.url}/v1 (model={record.name})")
    return 0


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _records():
    from springboard.serve.registry import EndpointRegistry
    from springboard.serve.server import ServerClient, find_server

    url = find_server()
    return ServerClient(url).list() if url else EndpointRegistry().list()


def _list(args: argparse.Namespace) -> int:
    records = _records()
    if not records:
        print("no endpoints")
        return 0
    rows = [("NAME", "STATUS", "MODEL", "CREATED (UTC)")]
    rows += [(r.name, r.status, r.model, _ts(r.creation_time)) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _describe(args: argparse.Namespace) -> int:
    from springboard.serve.registry import EndpointRegistry
    from springboard.serve.server import ServerClient, find_server, record_summary

    url = find_server()
    record = ServerClient(url).describe(args.name) if url else EndpointRegistry().get(args.name)
    summary = record_summary(record)
    if not url and record.status == "InService":
        summary["EndpointStatus"] = "OutOfService"  # recorded, but no server is hosting it
    print(json.dumps(summary | {"Config": record.model_dump(include={"batching", "max_batch_size", "max_wait_ms",
                                                                        "device", "dtype", "quantize", "prompt_format",
                                                                        "accept_eula", "adapters"}),
                                "ModelDir": record.model_dir}, indent=2))
    return 0


def _attach_adapter(args: argparse.Namespace) -> int:
    from pathlib import Path

    from springboard.serve.server import ServerClient

    artifact = args.artifact
    if Path(artifact).expanduser().is_dir():  # the server may run elsewhere: send an absolute path
        artifact = str(Path(artifact).expanduser().resolve())
    record = ServerClient(start=False).attach_adapter(args.name, args.adapter, artifact)
    print(f"endpoint {record.name}: adapters {', '.join(sorted(record.adapters))}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from springboard.serve.registry import EndpointRegistry
    from springboard.serve.server import ServerClient, find_server

    url = find_server()
    if url:
        ServerClient(url).delete(args.name)
    else:
        EndpointRegistry().delete(args.name)
    print(f"deleted endpoint {args.name}")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from springboard.errors import ValidationError
    from springboard.serve.server import ServerClient

    if args.json is not None:
        try:
            json.loads(args.json)
        except ValueError as exc:
            raise ValidationError(f"--json is not valid JSON: {exc}") from None
        body, content_type = args.json.encode("utf-8"), "application/json"
    else:
        body, content_type = args.text.encode("utf-8"), "application/x-text"
    response = ServerClient().invoke(args.name, body, content_type, args.accept, args.custom_attributes)
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)
    return 0
