"""The quickstart's data set, built offline from text that ships with Python: the body of a
standard-library docstring is the input, its one-line summary the target."""

from __future__ import annotations

import importlib
import inspect
import random
import re
import warnings
from dataclasses import dataclass

# A fixed list keeps the data set the same on every machine with the same Python.
MODULES = """
abc argparse ast asyncio base64 bisect calendar codecs collections concurrent.futures
configparser contextlib copy csv dataclasses datetime decimal difflib dis email.message
enum filecmp fileinput fnmatch fractions ftplib functools getopt gettext glob graphlib gzip
hashlib heapq hmac html html.parser http.client http.cookiejar http.server imaplib importlib
inspect io ipaddress itertools json logging logging.handlers lzma mailbox mimetypes
multiprocessing netrc numbers operator optparse os pathlib pickle pickletools pkgutil platform
plistlib poplib pprint profile pstats pydoc queue quopri random re reprlib runpy sched secrets
selectors shelve shlex shutil signal site smtplib socket socketserver sqlite3 ssl stat
statistics string struct subprocess symtable sysconfig tabnanny tarfile tempfile textwrap
threading timeit token tokenize tomllib trace traceback types typing unittest unittest.mock
urllib.parse urllib.request uuid warnings wave weakref xml.dom.minidom xml.etree.ElementTree
xmlrpc.client zipfile zipimport zoneinfo
""".split()


@dataclass(frozen=True)
class DocExample:
    id: str
    documentation: str
    summary: str


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _candidates():
    seen: set[int] = set()
    for mod_name in MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001 - a module missing on this build is skipped
            continue
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or id(obj) in seen:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if getattr(obj, "__module__", "") != module.__name__:
                    continue
                seen.add(id(obj))
                yield f"{mod_name}.{name}", obj
                if inspect.isclass(obj):
                    for mname, meth in sorted(vars(obj).items()):
                        if not mname.startswith("_") and inspect.isfunction(meth) and id(meth) not in seen:
                            seen.add(id(meth))
                            yield f"{mod_name}.{name}.{mname}", meth


def build(seed: int = 0) -> list[DocExample]:
    """Every docstring whose first paragraph is one sentence (4-25 words) and whose body
    (the rest) holds 12-90 words, each body and each summary once, shuffled
    deterministically (the split into training and held-out examples comes after)."""
    out: list[DocExample] = []
    for qualname, obj in _candidates():
        doc = inspect.getdoc(obj)
        if not doc:
            continue
        head, sep, body = doc.partition("\n\n")
        summary, body = _clean(head), _clean(body)
        if not sep or not summary.endswith(".") or summary.count(". ") > 0:
            continue
        if not 4 <= len(summary.split()) <= 25 or not 12 <= len(body.split()) <= 90:
            continue
        if summary.lower().startswith(("deprecated", "see ", "alias")) or ">>>" in body:
            continue
        out.append(DocExample(id=qualname, documentation=body, summary=summary))
    out = deduplicate(out)
    random.Random(seed).shuffle(out)
    return out


def deduplicate(examples: list[DocExample]) -> list[DocExample]:
    """Keeps an example only if neither its body nor its summary was seen before (compared
    case-insensitively). Inherited and copied docstrings repeat across the standard library;
    without this the held-out set shares bodies and summaries with training."""
    bodies: set[str] = set()
    summaries: set[str] = set()
    kept = []
    for e in examples:
        body, summary = e.documentation.casefold(), e.summary.casefold()
        if body in bodies or summary in summaries:
            continue
        bodies.add(body)
        summaries.add(summary)
        kept.append(e)
    return kept
