"""Where the running sagespec was installed from, so a generated project installs the same one.

pip records a direct install's source in the distribution's ``direct_url.json`` (PEP 610): a VCS URL
and commit, a local folder, or an archive URL. Without that file sagespec came from a package index,
and ``sagespec[local]==<version>`` finds it there again. The generated Makefile's default ``SAGESPEC``
is the requirement computed here; CI runs ``make install``, so it installs the same sagespec.

The origin is recorded in the project (``.sagespec/origin.json``): ``sagespec check`` renders with the
recorded one, so a different install of the same sagespec version does not read as drift.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..errors import GenerationError

ORIGIN_PATH = ".sagespec/origin.json"
DISTRIBUTION = "sagespec"
EXTRA = "local"  # what `sagespec local ...` (make local, serve, label) needs beyond the core


@dataclass(frozen=True)
class Origin:
    requirement: str  # a pip requirement (or a path with extras) of sagespec with the local extra
    reachable_from_ci: bool  # False when it names something only this machine has (a local path)
    note: str  # where it came from, in words

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, text: str | bytes, source: str = ORIGIN_PATH) -> Origin:
        try:
            data = json.loads(text)
            return cls(str(data["requirement"]), bool(data["reachable_from_ci"]), str(data["note"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise GenerationError(f"{source}: not a sagespec origin record ({exc})") from None


def _file_path(url: str) -> str:
    return unquote(urlsplit(url).path)


def origin_from_direct_url(direct_url: dict[str, Any] | None, version: str = __version__) -> Origin:
    """The origin that ``direct_url`` (the parsed PEP 610 record, None when absent) describes."""
    if not direct_url or "url" not in direct_url:
        return Origin(f"sagespec[{EXTRA}]=={version}", True, f"sagespec {version} from the package index")
    url = str(direct_url["url"])
    local = url.startswith("file:")
    if "vcs_info" in direct_url:
        vcs = direct_url["vcs_info"]
        reference = f"{vcs.get('vcs', 'git')}+{url}"
        if commit := vcs.get("commit_id"):
            reference += f"@{commit}"
        if subdirectory := direct_url.get("subdirectory"):
            reference += f"#subdirectory={subdirectory}"
        where = f"{url} at {commit}" if commit else url
        return Origin(f"sagespec[{EXTRA}] @ {reference}", not local, f"sagespec from {where}")
    if local:
        path = _file_path(url)
        if "dir_info" in direct_url:
            return Origin(f"{path}[{EXTRA}]", False, f"sagespec from the local folder {path}")
        return Origin(f"sagespec[{EXTRA}] @ {url}", False, f"sagespec from the local file {path}")
    return Origin(f"sagespec[{EXTRA}] @ {url}", True, f"sagespec from {url}")


@cache
def detect_origin() -> Origin:
    """The origin of the installed sagespec (the index form when it is not installed, e.g. a checkout
    on sys.path)."""
    # Every sagespec distribution on sys.path, in order. A build in a checkout leaves sagespec.egg-info
    # there, without an install record; Python started in that folder finds it first. The first one
    # that records where it was installed from is the one pip installed.
    records = (dist.read_text("direct_url.json") for dist in metadata.distributions(name=DISTRIBUTION))
    text = next((record for record in records if record), None)
    try:
        direct_url = json.loads(text) if text else None
    except ValueError:
        direct_url = None  # a damaged record: the index form is the best guess
    return origin_from_direct_url(direct_url if isinstance(direct_url, dict) else None)


def recorded_origin(project: Path) -> Origin | None:
    """The origin a generated project recorded (None for projects generated before it was recorded)."""
    path = project / ORIGIN_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GenerationError(f"{path}: {exc.strerror or exc}") from None
    return Origin.from_json(text, str(path))
