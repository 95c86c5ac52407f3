"""`springboard jumpstart specs DIR` and `springboard jumpstart env`: the catalog in JumpStart's
metadata format, and the environment under which the real `sagemaker` SDK talks to Springboard."""

from __future__ import annotations

import argparse
import shlex


def register(subparsers: argparse._SubParsersAction) -> None:
    js = subparsers.add_parser("jumpstart", help="the catalog for the real sagemaker SDK (JumpStart metadata)")
    sub = js.add_subparsers(dest="jumpstart_command", metavar="ACTION")

    p = sub.add_parser(
        "specs",
        help="write models_manifest.json and one JumpStart spec per catalog model into DIR",
        description="Point both AWS_JUMPSTART_MANIFEST_LOCAL_ROOT_DIR_OVERRIDE and "
        "AWS_JUMPSTART_SPECS_LOCAL_ROOT_DIR_OVERRIDE at DIR.",
    )
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(func=_specs)

    p = sub.add_parser(
        "env",
        help="print the exports under which boto3 / sagemaker SDK code uses a Springboard server",
        description="Exports the catalog and writes the SDK config file into "
        "SPRINGBOARD_HOME/jumpstart (or --dir), writes the JumpStart metadata the SDK reads from S3 "
        "into --bucket (so S3 must be up and credentials exported first), then prints shell exports: "
        'eval "$(springboard jumpstart env --s3-endpoint-url http://127.0.0.1:5000)"',
    )
    p.add_argument("--endpoint-url", default=None, metavar="URL",
                   help="the Springboard server (default: http://127.0.0.1:<default port>)")
    p.add_argument("--s3-endpoint-url", default=None, metavar="URL",
                   help="an S3-compatible store for the SDK's S3 locations (omit for real S3 / your profile)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--bucket", default="springboard",
                   help="the SDK's default bucket and JumpStart content bucket (default: %(default)s)")
    p.add_argument("--role-arn", default=None, help="role ARN the SDK puts in requests (ignored by Springboard)")
    p.add_argument("--dir", default=None, metavar="DIR", help="where to write the specs and config")
    p.set_defaults(func=_env)

    js.set_defaults(func=lambda args: (js.print_help(), 2)[1])


def _specs(args: argparse.Namespace) -> int:
    from springboard.hub.catalog import list_specs
    from springboard.hub.jumpstart import export_specs

    root = export_specs(args.directory)
    print(f"wrote {len(list_specs())} JumpStart model specs to {root}")
    return 0


def _env(args: argparse.Namespace) -> int:
    import os

    from springboard import settings
    from springboard.hub.jumpstart import DEFAULT_ROLE_ARN, sdk_environment

    endpoint = args.endpoint_url or f"http://127.0.0.1:{settings.DEFAULT_PORT}"
    if args.s3_endpoint_url:
        # This process writes the JumpStart content bucket into that store, as the SDK will read it.
        os.environ["AWS_ENDPOINT_URL_S3"] = args.s3_endpoint_url
    env = sdk_environment(
        endpoint, args.s3_endpoint_url, region=args.region, directory=args.dir,
        role_arn=args.role_arn or DEFAULT_ROLE_ARN, bucket=args.bucket,
    )
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0
