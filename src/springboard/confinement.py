"""`confine`, the one rule for which locations a server request may read and write (the home,
SPRINGBOARD_DATA_ROOTS, s3://, http(s) only where SPRINGBOARD_ALLOW_HTTP allows), and
`confine_reference` for a model reference that may name or locate.

A CLI user's own process touches any location it is given (their files). What arrives in a
server request (Studio, the control plane, the runtime) is confined: local paths only under the
home or a registered data root (symlinks and `..` resolved first), s3:// always (the store's own
credentials decide), http(s):// only for reading and only where SPRINGBOARD_ALLOW_HTTP allows.
"""

from __future__ import annotations

import os
from pathlib import Path

from springboard.errors import ValidationError
from springboard.storage import is_remote, local_path, scheme


def _roots(write: bool) -> list[Path]:
    from springboard import settings

    roots = [settings.home().resolve(), *settings.data_roots()]
    if not write:  # the converted-weights cache may live outside the home (SPRINGBOARD_MODELS_DIR)
        roots.append(settings.models_dir().resolve())
    return roots


def _roots_hint() -> str:
    from springboard import settings

    listed = os.pathsep.join(str(r) for r in settings.data_roots()) or "unset"
    return (f"a server request may use paths only under SPRINGBOARD_HOME ({settings.home()}) or "
            f"{settings.DATA_ROOTS} ({listed}); add the folder to {settings.DATA_ROOTS} (separated by "
            f"{os.pathsep!r}) where the server starts, or use s3://")


def http_allowed(url: str) -> bool:
    """Whether SPRINGBOARD_ALLOW_HTTP lets a request read `url`: a prefix matches on the same
    scheme, host and port and a path that starts with the prefix's at a `/` boundary (so
    `https://data.commoncrawl.org` does not admit `https://data.commoncrawl.org.evil.example`)."""
    from urllib.parse import urlsplit

    from springboard import settings

    allowed = settings.allowed_http()
    if "*" in allowed:
        return True
    try:
        got = urlsplit(url)
        got_port = got.port
    except ValueError:
        return False
    for prefix in allowed:
        try:
            want = urlsplit(prefix)
            want_port = want.port
        except ValueError:
            continue
        if (got.scheme.lower(), (got.hostname or ""), got_port) != (want.scheme.lower(), (want.hostname or ""), want_port):
            continue
        if got.username or got.password:
            continue
        base = want.path.rstrip("/")
        if got.path == base or got.path.startswith(base + "/"):
            return True
    return False


def confine(location: str | Path, field: str, *, write: bool = False, overwrite: bool = False) -> str:
    """The location a server request named, checked: returns it (a local path resolved: symlinks
    and `..` followed) or raises AccessDeniedError naming `field` and the setting that would
    allow it. `write`: the request writes there (http never; never a root itself or a folder
    holding the home); `overwrite`: it may also delete what is there (the same places)."""
    from springboard import settings
    from springboard.errors import AccessDeniedError

    text = str(location).strip()
    if not text:
        raise ValidationError(f"field '{field}': a location is required")
    kind = scheme(text)
    if kind in ("s3", "s3a"):
        return text
    if kind in ("http", "https"):
        if write or overwrite:
            raise AccessDeniedError(f"field '{field}': {text} is an http(s) URL; a server writes only to "
                                    f"local paths it may use or s3://")
        if not http_allowed(text):
            raise AccessDeniedError(
                f"field '{field}': reading {text} is not allowed: a server fetches http(s) URLs only when "
                f"{settings.ALLOW_HTTP} lists their prefix (e.g. https://data.commoncrawl.org/) or is '*'")
        return text
    if kind != "file":
        raise AccessDeniedError(f"field '{field}': {kind}:// locations are not accepted in a server request; "
                                "use a local path under the data roots, or s3://")
    path = local_path(text)
    if not path.is_absolute():
        raise ValidationError(f"field '{field}': {text!r} is relative; give an absolute path or a URI (s3://...)")
    try:
        resolved = path.resolve()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte: no such file can exist
        raise ValidationError(f"field '{field}': {text[:200]!r} is not a usable path ({exc.__class__.__name__})") from None
    roots = _roots(write or overwrite)
    inside = [r for r in roots if resolved == r or resolved.is_relative_to(r)]
    if not inside:
        doing = "write to" if write or overwrite else "read"
        raise AccessDeniedError(f"field '{field}': {text} is outside the folders a server request may {doing}: "
                                + _roots_hint())
    if write or overwrite:
        home = settings.home().resolve()
        if resolved in roots or home == resolved or home.is_relative_to(resolved):
            raise AccessDeniedError(f"field '{field}': {text} is the home or a data root itself (or holds the "
                                    "home); write into a folder under a root")
    return str(resolved)


def confine_reference(ref: str, field: str) -> str:
    """A model reference from a request, which may name (a catalog id, a training job, a Hugging
    Face repo id) or locate: a location (a scheme, an absolute or `~`/`.` path, a `..` part, or
    something that exists relative to the server's folder) is confined; a name is returned."""
    text = str(ref).strip()
    if (is_remote(text) or text.startswith(("/", ".", "~", "file://")) or ".." in text.split("/")
            or _exists(text)):
        return confine(text, field)
    return text


def _exists(text: str) -> bool:
    """Whether a relative path exists; a name no file system takes (too long, a NUL byte) does not."""
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False
