"""Every optional extra the package offers is used by its code: an extra nothing imports would
be a setting accepted and ignored (the removed `[gpu]` extra installed vllm for no code)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"pyspark": "pyspark", "llama-cpp-python": "llama_cpp"}  # distribution -> module, where they differ


def test_each_runtime_extra_is_imported_by_the_package():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    for extra, requirements in extras.items():
        if extra == "dev":  # test tools
            continue
        for requirement in requirements:
            dist = re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0]
            module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
            assert re.search(rf"^\s*(import|from) {module}\b", source, re.M), f"[{extra}] {dist}: no code imports {module}"
