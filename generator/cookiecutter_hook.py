"""`cookiecutter <sagespec repo>`: the answers -> a spec -> the same project `sagespec new` writes.

Cookiecutter only makes the project folder; its post-generation hook (``hooks/post_gen_project.py``)
calls :func:`main`, which builds the spec, validates it and renders the project into that folder with
:func:`sagespec.render.render_project`. The templates under ``template/`` never go through
cookiecutter's own Jinja, so the files are byte-for-byte those of ``sagespec new``.

The answers (see ``cookiecutter.json``):

- ``spec_file``: empty to start from the example spec of ``model_type``; otherwise a spec file, absolute
  or relative to the repository (or to the folder cookiecutter runs in). Its ``dataset.source`` stays
  relative to the spec file's folder.
- ``project_name``, ``project_slug``, ``region``: replace the spec's ``project.name``, ``project.slug``
  and ``project.region`` where they differ; with a spec file, their defaults are the spec's own values
  (:class:`SpecDefaults` reads them while cookiecutter prompts).
- ``model_type``: picks the example spec when there is no spec file (a spec file names its own model).

Cookiecutter's own process imports this module as ``generator.cookiecutter_hook`` (the repository is
on its path) for the :class:`SpecDefaults` extension, before anything is validated and whether or not
sagespec's dependencies are installed: it imports nothing beyond Jinja at module level.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment
from jinja2.ext import Extension

if TYPE_CHECKING:
    from .errors import SpecError
    from .spec.loader import LoadedSpec

REPO_DIR = Path(__file__).resolve().parents[1]
EXAMPLE_SPECS = {
    "blazingtext": "specs/womens-clothing-blazingtext.yaml",
    "bert": "specs/womens-clothing-bert.yaml",
}
# What the repository's `{{cookiecutter.project_slug}}/` folder holds so git keeps it; removed here.
PLACEHOLDER = ".gitkeep"
# Answer -> the field of `project:` it sets.
PROJECT_ANSWERS = {"project_name": "name", "project_slug": "slug", "region": "region"}


# ------------------------------------------------------------------------------------------ prompting
def resolve_spec_file(value: str, repo_dir: Path, cwd: Path | None = None) -> Path:
    """An absolute spec path: as given; a relative one from ``repo_dir``, else from ``cwd``."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    in_repo = repo_dir / path
    if not in_repo.exists() and cwd is not None and (cwd / path).exists():
        return (cwd / path).absolute()
    return in_repo.absolute()


def _read_yaml(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        from ruamel.yaml import YAML
    except ImportError:  # cookiecutter always brings PyYAML
        import yaml

        return yaml.safe_load(text)
    return YAML(typ="safe", pure=True).load(text)


def spec_value(spec_file: str, dotted: str, fallback: str) -> str:
    """``dotted`` (e.g. ``project.slug``) read from ``spec_file``, or ``fallback`` when there is no
    spec file or the value cannot be read. Only a default: the hook reports a broken spec properly."""
    if not str(spec_file).strip():
        return fallback
    try:
        node = _read_yaml(resolve_spec_file(str(spec_file).strip(), REPO_DIR, Path.cwd()))
        for key in dotted.split("."):
            node = node[key]
    except Exception:  # noqa: BLE001 - any unreadable spec just means "no default from it"
        return fallback
    return node if isinstance(node, str) and node.strip() else fallback


class HookFailureInOneLine(logging.Filter):
    """Cookiecutter logs a failed hook with the traceback of its own FailedHookException, under the
    hook's one-line error; this keeps cookiecutter's message and drops the traceback, which says nothing
    about the input."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and type(record.exc_info[1]).__name__ == "FailedHookException":
            record.exc_info = record.exc_text = None
        return True


class SpecDefaults(Extension):
    """For cookiecutter.json: the filter ``spec_value`` (defaults taken from the spec file being
    answered) and ``sagespec_cwd()``, the folder cookiecutter was started in (hooks run elsewhere).

    Loaded in cookiecutter's own process, it also quiets that process's report of a failed hook."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["spec_value"] = spec_value
        environment.globals["sagespec_cwd"] = os.getcwd
        hooks_logger = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(f, HookFailureInOneLine) for f in hooks_logger.filters):
            hooks_logger.addFilter(HookFailureInOneLine())


# ------------------------------------------------------------------------------------------ generation
def _yaml_literal(value: str) -> str:
    """A YAML scalar that reads back as the string ``value``: bare when that is unambiguous."""
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_./-]*", value) and value.lower() not in {
        "true", "false", "yes", "no", "on", "off", "null", "y", "n",
    }:  # fmt: skip
        return value
    # A JSON string is a valid double-quoted YAML scalar once the characters YAML does not allow raw or
    # reads as line breaks (DEL, C1 controls with NEL, U+2028/U+2029, U+FFFE/U+FFFF, lone surrogates;
    # json.dumps escapes only those below U+0020) are escaped too.
    return _NOT_YAML_PRINTABLE.sub(
        lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False)
    )


_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _set_project_fields(text: str, path: Path | None, values: dict[str, str]) -> str:
    """``text`` with ``project.<field>`` set to each value, touching nothing else in the file."""
    from ruamel.yaml import YAML
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    from .errors import GenerationError

    root = YAML(typ="rt").compose(text)
    project = (
        next((v for k, v in root.value if getattr(k, "value", None) == "project"), None)
        if isinstance(root, MappingNode)
        else None
    )
    if not isinstance(project, MappingNode):
        raise GenerationError(f"{path or 'spec'}: project: not a mapping")
    where = path or "spec"
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the text
    for field, value in values.items():
        found = [(k, v) for k, v in project.value if getattr(k, "value", None) == field]
        if found:
            node = found[0][1]
            start, end = node.start_mark.index, node.end_mark.index
            old = text[start:end]
            tail = old[len(old.rstrip()) :]  # block scalars end with their line breaks: keep them
            edits.append((start, end, _yaml_literal(value) + tail))
        elif project.flow_style:
            raise GenerationError(f"{where}: project is a flow mapping; add project.{field} to it yourself")
        else:
            # A new line after the first one-line scalar of `project:` (name or slug, normally).
            scalars = [
                (k, v) for k, v in project.value if isinstance(v, ScalarNode) and v.style not in ("|", ">")
            ]
            if not scalars:
                raise GenerationError(f"{where}: cannot add project.{field}; add it to the spec yourself")
            anchor = scalars[0]
            newline = text.find("\n", anchor[1].end_mark.index)
            at = len(text) if newline == -1 else newline
            indent = " " * anchor[0].start_mark.column
            edits.append((at, at, f"\n{indent}{field}: {_yaml_literal(value)}"))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _check_answers(values: dict[str, str]) -> None:
    from .errors import GenerationError
    from .spec.models import REGION_PATTERN, SLUG_PATTERN

    rules = {
        "name": (r".*\S.*", "must not be empty"),
        "slug": (SLUG_PATTERN, "must be 2-32 characters of a-z, 0-9 and '-', starting with a letter"),
        "region": (REGION_PATTERN, "must be an AWS region such as us-east-1"),
    }
    for answer, field in PROJECT_ANSWERS.items():
        if field in values:
            pattern, rule = rules[field]
            if not re.match(pattern, values[field], re.DOTALL):
                raise GenerationError(f"{answer} {values[field]!r} {rule}")


def _from_answers(error: SpecError, changes: dict[str, str]) -> SpecError:
    """``error`` with each problem of a field an answer set naming that answer: the line it points at
    holds the answer, not what the spec file says."""
    from dataclasses import replace

    from .errors import SpecError

    answer_of = {f"project.{field}": answer for answer, field in PROJECT_ANSWERS.items() if field in changes}
    issues = [
        replace(issue, path=f"{issue.path} (the {answer_of[issue.path]} answer)")
        if issue.path in answer_of
        else issue
        for issue in error.issues + error.warnings
    ]
    return SpecError(issues, error.file)


def build_spec(answers: dict[str, Any], repo_dir: Path) -> LoadedSpec:
    """The validated spec the answers describe (raises SpecError / GenerationError)."""
    from .errors import GenerationError, SpecError
    from .spec import load_spec, load_spec_text

    spec_file = str(answers.get("spec_file") or "").strip()
    model_type = str(answers.get("model_type") or "").strip()
    if spec_file:
        cwd = Path(answers["__cwd"]) if answers.get("__cwd") else None
        loaded = load_spec(resolve_spec_file(spec_file, repo_dir, cwd))
    else:
        if model_type not in EXAMPLE_SPECS:
            raise GenerationError(f"model_type must be one of {', '.join(EXAMPLE_SPECS)}, not {model_type!r}")
        loaded = load_spec(repo_dir / EXAMPLE_SPECS[model_type])

    current = loaded.spec.project
    changes: dict[str, str] = {}
    for answer, field in PROJECT_ANSWERS.items():
        value = answers.get(answer)
        if value is None:
            continue
        value = str(value).strip()
        if value != getattr(current, field):
            changes[field] = value
    if not changes:
        return loaded
    _check_answers(changes)
    text = _set_project_fields(loaded.text, loaded.path, changes)
    try:
        edited = load_spec_text(text, loaded.path)
    except SpecError as exc:
        raise _from_answers(exc, changes) from None
    for field, value in changes.items():
        if getattr(edited.spec.project, field) != value:  # the edit must read back exactly
            raise GenerationError(f"{loaded.path}: could not set project.{field}; edit the spec file instead")
    return edited


def generate_into(project_dir: Path, answers: dict[str, Any], repo_dir: Path) -> int:
    """Render the project the answers describe into ``project_dir`` (empty but for the placeholder).
    Returns the number of files written."""
    from .render import render_project

    loaded = build_spec(answers, repo_dir)
    for warning in loaded.warnings:
        print(f"  {warning.format()}", file=sys.stderr)
    project = render_project(loaded)
    (project_dir / PLACEHOLDER).unlink(missing_ok=True)
    project.write(project_dir)
    return len(project.files)


def main(project_dir: Path, answers: dict[str, Any], repo_dir: Path) -> int:
    """The hook's entry point: generate, or print a clean error; returns the exit status."""
    from .errors import SagespecError

    try:
        count = generate_into(Path(project_dir), answers, Path(repo_dir))
    except SagespecError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except ImportError as exc:  # sagespec loaded from the repository, without its dependencies
        print(
            f"error: sagespec needs {exc.name or exc}; install sagespec where cookiecutter runs: "
            f"{sys.executable} -m pip install -e {repo_dir}",
            file=sys.stderr,
        )
        return 2
    print(f"generated {count} files in {project_dir}")
    print(f"next: cd {project_dir} && make install && make test")
    return 0
