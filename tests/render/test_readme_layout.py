"""The generated README's Layout section matches the generated tree, for every example spec and a spec
with every optional feature on: each path it names exists, and every top-level entry of the tree and
every file of the pipeline package is named."""

from __future__ import annotations

import re
from functools import cache
from pathlib import PurePosixPath

import pytest

from sagespec.render import render_project
from sagespec.render.layout import target_path
from sagespec.spec import load_spec, load_spec_text

from ..conftest import DATA, EXAMPLE_SPECS, SPECS

FEATURE_STORE = "feature_store:\n  offline_store_s3_uri: s3://store-bucket/features\n"
# Files a reader of the layout needs no line for.
UNNAMED = {"__init__.py"}


def layout_paths(readme: str) -> set[str]:
    """The paths the README's Layout section names: folders end in '/', nesting is two spaces a level,
    a line may name several entries (two spaces apart) before its '#' comment."""
    section = readme.split("## Layout\n", 1)[1]
    block = section.split("```\n", 2)[1]
    paths: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        entries = line.split("#", 1)[0].rstrip()
        if not entries.strip():
            continue
        depth = (len(entries) - len(entries.lstrip(" "))) // 2
        parents = parents[:depth]
        names = re.split(r" {2,}", entries.strip())
        for name in names:
            path = "/".join([*parents, name])
            paths.add(path)
            # ".github/workflows/" names .github/ as well.
            paths.update(str(parent) + "/" for parent in PurePosixPath(path).parents if str(parent) != ".")
        if len(names) == 1 and names[0].endswith("/"):
            parents.append(names[0].rstrip("/"))
    return paths


@cache
def rendered(case: str) -> dict[str, bytes]:
    """The generated files of an example spec, or of the BERT example with a feature store or PyTorch."""
    if case not in ("bert-feature-store", "bert-pytorch"):
        return render_project(load_spec(SPECS / f"{case}.yaml")).files
    bert = (SPECS / "womens-clothing-bert.yaml").read_text().replace("../data/", f"{DATA.as_posix()}/")
    if case == "bert-pytorch":
        return render_project(
            load_spec_text(bert.replace("  type: bert\n", "  type: bert\n  framework: pytorch\n"))
        ).files
    # ...and the profiler (model.debugger), whose module only some specs get too.
    profiled = bert.replace(
        "  mixed_precision: auto\n", "  mixed_precision: auto\n  debugger: {profiler: true}\n"
    )
    return render_project(load_spec_text(profiled + FEATURE_STORE)).files


@pytest.fixture(params=[*(path.stem for path in EXAMPLE_SPECS), "bert-feature-store", "bert-pytorch"])
def project(request) -> dict[str, bytes]:
    return rendered(request.param)


def test_layout_parser_reads_nesting_and_shared_lines():
    readme = "## Layout\n\n```\na/\n  b/\n    c.py   # x\n  d.py\ne  f   # y\ng/h/   # z\n```\n"
    assert layout_paths(readme) == {"a/", "a/b/", "a/b/c.py", "a/d.py", "e", "f", "g/", "g/h/"}


def test_every_named_path_exists(project):
    files = [PurePosixPath(rel) for rel in project]
    for named in layout_paths(project["README.md"].decode()):
        if named.endswith("/"):
            folder = PurePosixPath(named.rstrip("/"))
            assert any(folder in path.parents for path in files), f"README names {named}, not generated"
        else:
            assert named in project, f"README names {named}, not generated"


def test_every_top_level_entry_and_pipeline_module_is_named(project):
    named = layout_paths(project["README.md"].decode())
    for rel in project:
        parts = PurePosixPath(rel).parts
        top = parts[0] + ("/" if len(parts) > 1 else "")
        assert top in named, f"{top} is generated but the README's layout does not name it"
        if len(parts) == 3 and parts[0] == "pipelines" and parts[2] not in UNNAMED:
            assert rel in named, f"{rel} is generated but the README's layout does not name it"


def test_sagespecs_readme_names_only_modules_the_templates_generate():
    """sagespec's own README sketches the generated tree: every file name it gives there is a template."""
    readme = (SPECS.parent / "README.md").read_text()
    tree = readme.split("## The generated project\n", 1)[1].split("```\n", 2)[1]
    root = SPECS.parent / "template"
    templates = {
        target_path(PurePosixPath(path.relative_to(root).as_posix()), "pkg").name
        for path in root.rglob("*")
        if path.is_file()
    }
    named = set(re.findall(r"[\w.-]+\.(?:py|txt|yml|yaml|toml|json|md)\b|Makefile", tree))
    assert named, "no file names found in README's generated tree"
    generated_elsewhere = {"spec.yaml", "manifest.json", "base.json", "origin.json"}
    assert named - generated_elsewhere <= templates, named - generated_elsewhere - templates


def test_sagespecs_readme_names_every_module_of_the_pipeline_package():
    """...and the other way round: every file the template can put in the pipeline package, those that
    only some specs get included, is named in that sketch."""
    readme = (SPECS.parent / "README.md").read_text()
    tree = readme.split("## The generated project\n", 1)[1].split("```\n", 2)[1]
    package = SPECS.parent / "template" / "pipelines" / "__pkg__"
    modules = {
        target_path(PurePosixPath("pipelines/__pkg__", path.name), "pkg").name
        for path in package.iterdir()
        if path.is_file()
    } - UNNAMED
    named = set(re.findall(r"[\w.-]+\.(?:py|txt)\b", tree))
    assert modules <= named, sorted(modules - named)


def test_a_data_file_name_with_backticks_stays_one_code_span(tmp_path):
    """The README quotes the pipeline's default input, whose key ends in the data file's name: a name
    holding a backtick is fenced by more of them, not cut short."""
    from sagespec.render.engine import markdown_code

    data = tmp_path / "rev`iews.csv"
    data.write_bytes((DATA / "womens_clothing_ecommerce_reviews.csv").read_bytes())
    spec = (SPECS / "womens-clothing-blazingtext.yaml").read_text()
    spec = re.sub(r"(?m)^  source: .*$", '  source: "rev`iews.csv"', spec)
    (tmp_path / "spec.yaml").write_text(spec)
    readme = render_project(load_spec(tmp_path / "spec.yaml")).files["README.md"].decode()
    key = "reviews-blazingtext/data/rev`iews.csv"
    assert markdown_code(f"s3://<default-bucket>/{key}") in readme
    assert not re.search(f"(?<!`)`{re.escape(f's3://<default-bucket>/{key}')}`(?!`)", readme)
