"""Render a whole project: templates + the spec copy + the data it needs + a manifest."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..errors import GenerationError, shown_name
from ..spec.dataset_check import facet_values
from ..spec.loader import LoadedSpec, parse_yaml
from .context import build_context, local_data_path
from .engine import make_environment
from .layout import template_files
from .manifest import Record
from .origin import ORIGIN_PATH, Origin, detect_origin
from .pyformat import PYPROJECT, format_python
from .writer import write_tree

SPEC_PATH = "spec.yaml"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def template_root() -> Path:
    """The template tree: inside the installed package, or template/ beside generator/ in a checkout."""
    for candidate in (PACKAGE_ROOT / "_template", PACKAGE_ROOT.parent / "template"):
        if candidate.is_dir():
            return candidate
    raise GenerationError("sagespec's templates are missing from this installation")


@dataclass(frozen=True)
class RenderedProject:
    files: dict[str, bytes]

    def write(self, output: Path) -> None:
        write_tree(self.files, output)


def _spec_copy(loaded: LoadedSpec) -> bytes:
    """The spec as the generated repo keeps it: the user's text, with a local dataset path pointing
    at the repo's own copy under data/ (comments and layout preserved)."""
    target = local_data_path(loaded.spec)
    if target is None or loaded.spec.dataset.source == target:
        return loaded.text.encode()
    data = parse_yaml(loaded.text, loaded.path)
    line, col = data["dataset"].lc.value("source")
    text = _replace_scalar(loaded.text, line, col, target)
    # The schema modeline points at this repo's schema. The generated repo does not carry a copy: its
    # `make install` writes the installed sagespec's schema there (git ignores it).
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("# yaml-language-server:"):
        lines[0] = "# yaml-language-server: $schema=.sagespec/spec.schema.json\n"
    return "".join(lines).encode()


def _replace_scalar(text: str, line: int, col: int, value: str) -> str:
    """Replace the YAML scalar starting at (line, col) in ``text`` by ``value``, touching nothing else."""
    lines = text.splitlines(keepends=True)
    row = lines[line]
    rest = row[col:]
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = 1
        while end < len(rest):
            if rest[end] == "\\" and quote == '"':
                end += 2
                continue
            if rest[end] == quote:
                if quote == "'" and rest[end + 1 : end + 2] == "'":
                    end += 2
                    continue
                break
            end += 1
        end += 1
    else:
        match = re.search(r"\s+#|\s*$", rest)
        end = match.start() if match else len(rest.rstrip("\n"))
    literal = value if re.fullmatch(r"[A-Za-z0-9_./-]+", value) else json.dumps(value)
    lines[line] = row[:col] + literal + rest[end:]
    return "".join(lines)


def _dataset_bytes(loaded: LoadedSpec) -> bytes | None:
    if local_data_path(loaded.spec) is None:
        return None
    source = Path(loaded.spec.dataset.source).expanduser()
    if not source.is_absolute():
        source = loaded.base_dir / source
    try:
        return source.read_bytes()
    except FileNotFoundError:
        raise GenerationError(
            f"{loaded.path or 'spec'}: dataset.source: no such file {source} (paths are relative to the spec)"
        ) from None
    except IsADirectoryError:
        raise GenerationError(
            f"{loaded.path or 'spec'}: dataset.source: {source} is a folder, not a file"
        ) from None
    except OSError as err:  # a name too long, no permission, an I/O error
        reason = err.strerror or err
        raise GenerationError(
            f"{loaded.path or 'spec'}: dataset.source: cannot read {shown_name(source)}: {reason}"
        ) from None


def render_project(
    loaded: LoadedSpec, root: Path | None = None, origin: Origin | None = None
) -> RenderedProject:
    """Every file of the project. ``origin``: where it installs sagespec from; by default where this
    sagespec came from (``sagespec check`` passes the one the project recorded)."""
    root = root or template_root()
    env = make_environment(root)
    origin = origin or detect_origin()
    context = build_context(loaded.spec, facet_values(loaded), origin)
    files: dict[str, bytes] = {}
    rendered: set[str] = set()
    for item in template_files(root, loaded.spec):
        source = root / Path(*item.source.parts)
        if item.render:
            try:
                text = env.get_template(item.source.as_posix()).render(context)
            except (jinja2.TemplateError, GenerationError) as exc:
                raise GenerationError(f"template {item.source}: {exc}") from exc
            files[item.target.as_posix()] = text.encode()
            rendered.add(item.target.as_posix())
        else:
            files[item.target.as_posix()] = source.read_bytes()
    # Spec values are literals in the rendered Python: lay them out as the project's formatter would.
    python = {rel: files[rel] for rel in rendered if rel.endswith(".py")}
    files.update(format_python(python, files[PYPROJECT]))
    files[SPEC_PATH] = _spec_copy(loaded)
    files[ORIGIN_PATH] = origin.to_json()
    data = _dataset_bytes(loaded)
    data_path = local_data_path(loaded.spec)
    if data is not None and data_path is not None:
        files[data_path] = data
    files.update(Record.of(files).to_files())
    return RenderedProject(files)


def generate(loaded: LoadedSpec, output: Path) -> RenderedProject:
    """Render ``loaded`` into the new folder ``output`` (atomically; refuses a non-empty folder)."""
    project = render_project(loaded)
    project.write(output)
    return project
