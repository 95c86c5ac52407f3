"""README.md, section "Run your SageMaker code (the `sagemaker` Python SDK)": its shell commands and
then its Python block, as written and in that order, in one shell as a user types them (the shell
block's exports reach the Python). The code is read from README.md itself, so the test follows
the README. What a user does between them is added: they wait for a background command to listen
before typing the next one, and put their data where the README's comment says
(`s3://springboard/train/`: data.jsonl + template.json). The only change to the text is the two
port numbers (5000 and 8080), swapped for free ones: other servers may hold those on this machine."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from liveserver import free_port

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Run your SageMaker code (the `sagemaker` Python SDK)"

UPLOAD = """
import json, boto3
s3 = boto3.client("s3")
rows = [{"question": f"What is {a} plus {b}?", "answer": str(a + b)} for a in range(4) for b in range(3)]
s3.put_object(Bucket="springboard", Key="train/data.jsonl", Body="\\n".join(json.dumps(r) for r in rows).encode())
s3.put_object(Bucket="springboard", Key="train/template.json",
              Body=json.dumps({"prompt": "Question: {question}\\nAnswer:", "completion": " {answer}"}).encode())
"""


def section_blocks() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.index("\n### ", start + len(SECTION))
    return re.findall(r"```(bash|python)\n(.*?)```", text[start:end], re.S)


def wait_for_port(port: int) -> str:
    return (f"for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.2; done; "
            f"(exec 3<>/dev/tcp/127.0.0.1/{port}) || {{ echo 'nothing listens on {port}' >&2; exit 1; }}")


def end_group(pgid: int) -> None:
    """SIGTERM to the process group the test started, SIGKILL to what is left after 15 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        for _ in range(75):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def test_readme_sdk_section_runs_as_written(tmp_path, shared_models_dir):
    blocks = section_blocks()
    assert [kind for kind, _ in blocks] == ["bash", "python"], "the section's code blocks changed: update this test"
    shell, python = blocks[0][1], blocks[1][1]
    s3_port, server_port = free_port(), free_port()
    lines = []
    for line in shell.splitlines():
        command = line.split("  #")[0].strip()  # the README's aligned trailing comments
        if not command:
            continue
        command = re.sub(r"\b5000\b", str(s3_port), re.sub(r"\b8080\b", str(server_port), command))
        lines.append(command)
        if command.endswith("&"):
            lines.append(wait_for_port(s3_port if str(s3_port) in command else server_port))
    (tmp_path / "upload.py").write_text(UPLOAD)
    (tmp_path / "readme.py").write_text(python)
    script = "\n".join(["set -e", *lines, "python upload.py", "python readme.py"]) + "\n"
    (tmp_path / "readme.sh").write_text(script)

    bin_dir = str(Path(sys.executable).parent)  # springboard, moto_server and python, as in .venv/bin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_", "SPRINGBOARD_"))}
    env |= {"PATH": bin_dir + os.pathsep + env.get("PATH", ""), "SPRINGBOARD_HOME": str(tmp_path / "home"),
            "SPRINGBOARD_MODELS_DIR": str(shared_models_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "SAGEMAKER_SUPPRESS_V2_WARNING": "1", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1")}
    log = tmp_path / "readme.log"  # a file, not a pipe: the background servers keep their stdout open
    with open(log, "wb") as sink:
        proc = subprocess.Popen(["bash", "readme.sh"], cwd=tmp_path, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=1200)
        finally:
            end_group(proc.pid)  # the README's background servers outlive the shell, in its group
            proc.wait(timeout=30)
    out = log.read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, f"{shlex.join(['bash', 'readme.sh'])} failed:\n{script}\n{out[-6000:]}"
    # seed 000's first cell: the FLAN-T5 models, found with its filter
    listed = next(line for line in out.splitlines() if line.startswith("['huggingface-text2text-"))
    assert "huggingface-text2text-flan-t5-xl" in json.loads(listed.replace("'", '"'))
    # the training curve through CloudWatch: TrainingJobAnalytics's frame lists the seed's metric
    assert re.search(r"eval:loss\s+[0-9.]+", out), out[-4000:]
    assert "generated_text" in out  # both endpoints answered
