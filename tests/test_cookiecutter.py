"""`cookiecutter <this repo>` writes exactly what `sagespec new` writes, with or without prompts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.cli import main as sagespec_main
from sagespec.cookiecutter_hook import _set_project_fields, build_spec
from sagespec.errors import GenerationError, SpecError
from sagespec.spec import load_spec, load_spec_text

pytest.importorskip("cookiecutter", reason="cookiecutter is a development dependency of sagespec")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = {
    "womens-clothing-bert.yaml": "reviews-bert",
    "womens-clothing-blazingtext.yaml": "reviews-blazingtext",
}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_tree(actual: Path, expected: Path) -> None:
    got, want = tree(actual), tree(expected)
    assert sorted(got) == sorted(want)
    assert [path for path in want if got[path] != want[path]] == []


@pytest.fixture
def run_cookiecutter(tmp_path):
    """Run the cookiecutter CLI on this repository; replay files and clones stay in tmp_path."""
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\n")

    def run(
        *args: str, stdin: str | None = None, cwd: Path | None = None, template: str = str(REPO)
    ) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "cookiecutter", "--config-file", str(config), template, *args]
        return subprocess.run(
            command, input=stdin, capture_output=True, text=True, cwd=cwd or tmp_path, timeout=120
        )

    return run


@pytest.mark.parametrize("spec_name", sorted(EXAMPLES))
def test_no_input_with_spec_file_is_byte_identical_to_sagespec_new(run_cookiecutter, tmp_path, spec_name):
    slug = EXAMPLES[spec_name]
    result = run_cookiecutter(
        "--no-input", "-o", str(tmp_path / "cc-out"), f"spec_file=specs/{spec_name}", f"project_slug={slug}"
    )
    assert result.returncode == 0, result.stderr
    assert sagespec_main(["new", str(REPO / "specs" / spec_name), "-o", str(tmp_path / "new")]) == 0
    assert_same_tree(tmp_path / "cc-out" / slug, tmp_path / "new")


def test_spec_file_gives_the_defaults_and_the_template_may_be_a_relative_path(run_cookiecutter, tmp_path):
    """`cookiecutter . spec_file=...` from the repository: the folder is named after the spec's slug."""
    result = run_cookiecutter(
        "--no-input", "-o", str(tmp_path / "out"), "spec_file=specs/womens-clothing-blazingtext.yaml",
        cwd=REPO, template=".",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "reviews-blazingtext" / "pipelines" / "reviews_blazingtext").is_dir()


def test_prompted_answers_build_the_example_spec(run_cookiecutter, tmp_path):
    # spec_file (empty), project_name, project_slug, model_type (2 = bert), region
    answers = "\nTeam Reviews\nteam-reviews\n2\neu-west-1\n"
    result = run_cookiecutter("-o", "out", stdin=answers)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "out" / "team-reviews"
    spec = load_spec(project / "spec.yaml").spec
    assert (spec.project.name, spec.project.slug, spec.project.region) == (
        "Team Reviews",
        "team-reviews",
        "eu-west-1",
    )
    assert spec.model.type == "bert"
    assert spec.dataset.source == "data/womens_clothing_ecommerce_reviews.csv"
    assert (project / "pipelines" / "team_reviews" / "train.py").is_file()
    assert (project / "data" / "womens_clothing_ecommerce_reviews.csv").is_file()
    assert not (project / ".gitkeep").exists()
    # The project is what `sagespec new` makes of the spec it keeps.
    assert sagespec_main(["new", str(project / "spec.yaml"), "-o", str(tmp_path / "again")]) == 0
    assert_same_tree(project, tmp_path / "again")


def test_spec_file_relative_to_the_current_folder_with_a_region_answer(run_cookiecutter, tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(REPO / "data" / "womens_clothing_ecommerce_reviews.csv", tmp_path / "data")
    specs = tmp_path / "specs-here"
    specs.mkdir()
    shutil.copy(REPO / "specs" / "womens-clothing-blazingtext.yaml", specs / "mine.yaml")
    result = run_cookiecutter(
        "--no-input", "-o", "out", "spec_file=specs-here/mine.yaml", "region=eu-central-1"
    )
    assert result.returncode == 0, result.stderr
    kept = (tmp_path / "out" / "reviews-blazingtext" / "spec.yaml").read_text()
    original = (specs / "mine.yaml").read_text()
    assert "  region: eu-central-1\n" in kept
    # Only the region, the dataset path and the schema modeline differ from the user's file.
    changed = [(a, b) for a, b in zip(original.splitlines(), kept.splitlines(), strict=True) if a != b]
    assert [b for _, b in changed] == [
        "# yaml-language-server: $schema=.sagespec/spec.schema.json",
        "  region: eu-central-1",
        "  source: data/womens_clothing_ecommerce_reviews.csv   # relative to this file",
    ]


def test_bad_spec_file_fails_cleanly_and_leaves_no_folder(run_cookiecutter, tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (REPO / "specs" / "womens-clothing-bert.yaml").read_text()
    bad.write_text(text.replace("../data/", f"{REPO.as_posix()}/data/").replace("epochs: 3", "epochs: -3"))
    result = run_cookiecutter("--no-input", "-o", "out", f"spec_file={bad}", "project_slug=bad-one")
    assert result.returncode != 0
    assert f"{bad}:" in result.stderr and "model.hyperparameters.epochs" in result.stderr
    assert str(REPO / "generator") not in result.stderr  # no traceback through sagespec
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out" / "bad-one").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["spec_file=specs/nope.yaml"], "no such spec file"),
        (["project_slug=Not A Slug"], "project_slug 'Not A Slug' must be"),
        (["model_type=bert", "region=mars-north-1"], "region 'mars-north-1' must be an AWS region"),
    ],
)
def test_bad_answers_fail_cleanly(run_cookiecutter, tmp_path, args, message):
    result = run_cookiecutter("--no-input", "-o", "out", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert str(REPO / "generator") not in result.stderr
    # Cookiecutter logs (to stdout) the failed hook without the traceback of its own exception.
    assert "Traceback" not in result.stdout + result.stderr
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())


def test_hook_loads_the_repository_generator_when_sagespec_is_not_installed(tmp_path):
    import jinja2

    context = {
        "_repo_dir": REPO.name, "__cwd": str(REPO.parent),  # as `cookiecutter <name>` from the parent
        "spec_file": "specs/womens-clothing-blazingtext.yaml",
        "project_name": "Women's Clothing Reviews - BlazingText", "project_slug": "reviews-blazingtext",
        "model_type": "blazingtext", "region": "us-east-1",
    }  # fmt: skip
    hook = jinja2.Environment().from_string((REPO / "hooks" / "post_gen_project.py").read_text())
    script = tmp_path / "hook.py"
    script.write_text(hook.render(cookiecutter=context))
    project = tmp_path / "project"
    project.mkdir()
    (project / ".gitkeep").write_text("placeholder\n")
    # sys.modules["sagespec"] = None makes `import sagespec` fail as if it were not installed.
    code = f"import sys; sys.modules['sagespec'] = None; exec(open({str(script)!r}).read())"
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (
        sagespec_main(
            ["new", str(REPO / "specs" / "womens-clothing-blazingtext.yaml"), "-o", str(tmp_path / "new")]
        )
        == 0
    )
    assert_same_tree(project, tmp_path / "new")


# ------------------------------------------------------------------------ the spec edits, in-process
def test_answers_equal_to_the_spec_leave_its_text_alone():
    spec = REPO / "specs" / "womens-clothing-bert.yaml"
    answers = {"spec_file": str(spec), "project_name": "Women's Clothing Reviews - BERT",
               "project_slug": "reviews-bert", "model_type": "bert", "region": "us-east-1"}  # fmt: skip
    assert build_spec(answers, REPO).text == spec.read_text()


def test_set_project_fields_replaces_any_scalar_style_and_adds_missing_keys():
    text = (
        "spec_version: 1  # one\n"
        "project:\n"
        "  name: >-\n"
        "    A folded\n"
        "    name\n"
        "  slug: 'old-slug'   # kept comment\n"
        "  tags: {team: x}\n"
        "rest: 1\n"
    )
    out = _set_project_fields(
        text, None, {"name": 'New "name": yes', "slug": "new-slug", "region": "eu-west-1"}
    )
    assert out == (
        "spec_version: 1  # one\n"
        "project:\n"
        '  name: "New \\"name\\": yes"\n'
        "  slug: new-slug   # kept comment\n"
        "  region: eu-west-1\n"
        "  tags: {team: x}\n"
        "rest: 1\n"
    )


def test_answer_values_that_yaml_would_retype_stay_strings(tmp_path):
    spec = REPO / "specs" / "womens-clothing-blazingtext.yaml"
    for name in ("yes", "null", "1.5", "{{ 7*7 }}", "Ünïcode: ok"):
        answers = {"spec_file": str(spec), "project_name": name, "model_type": "blazingtext"}
        assert build_spec(answers, REPO).spec.project.name == name


def test_flow_style_project_without_the_key_is_refused(tmp_path):
    text = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
    start, end = text.index("project:\n"), text.index("dataset:\n")
    flow = "project: {name: P, slug: flow-proj}\n\n"
    path = tmp_path / "flow.yaml"
    path.write_text(text[:start] + flow + text[end:].replace("../data/", f"{REPO.as_posix()}/data/"))
    assert load_spec_text(path.read_text(), path).spec.project.slug == "flow-proj"
    with pytest.raises(GenerationError, match="flow mapping"):
        build_spec({"spec_file": str(path), "region": "eu-west-1"}, REPO)
    # A key that is there is replaced, flow style or not.
    assert (
        build_spec({"spec_file": str(path), "project_slug": "new-slug"}, REPO).spec.project.slug == "new-slug"
    )


@settings(max_examples=60, deadline=None)
@given(
    name=(
        st.text(min_size=1, max_size=60)
        | st.builds(str.__add__, st.text(max_size=5), st.sampled_from("\x7f\x85\x9f\u2028\u2029\ud800\ufffe"))
    ).filter(lambda text: text.strip())
)
def test_any_project_name_answer_is_the_name_or_an_error_that_names_the_answer(name):
    """The answer is data: it reads back exactly, or the error points at the answer, not at a line of a
    spec file the user never wrote (the example spec's `name:` line, before)."""
    spec = REPO / "specs" / "womens-clothing-blazingtext.yaml"
    answers = {"spec_file": str(spec), "project_name": name, "model_type": "blazingtext"}
    try:
        loaded = build_spec(answers, REPO)
    except SpecError as exc:
        named = [issue for issue in exc.issues if issue.path.startswith("project.name")]
        assert named and all(i.path == "project.name (the project_name answer)" for i in named), exc.render()
        assert "(the project_name answer)" in exc.render()
    except GenerationError as exc:
        assert "project_name" in str(exc)
    else:
        assert loaded.spec.project.name == name.strip()
