"""Fill the project folder cookiecutter has just made with sagespec's rendering of the answers.

All the work is sagespec's (sagespec.cookiecutter_hook.main); this script only finds sagespec: the
installed package when there is one, else this repository's own generator/ folder.
"""

import importlib
import importlib.util
import json
import sys
from pathlib import Path

# Cookiecutter renders this file first: the answers and the repository's path arrive as JSON, which
# Jinja's tojson writes without a single ' (it escapes them), so the raw '-string always holds it.
CONTEXT = json.loads(r'''{{ cookiecutter | tojson }}''')  # fmt: skip
# _repo_dir is the template argument as given ("." too); __cwd is where cookiecutter was started.
REPO_DIR = Path(CONTEXT.get("__cwd", "."), CONTEXT["_repo_dir"]).resolve()


def import_hook_module():
    try:
        return importlib.import_module("sagespec.cookiecutter_hook")
    except ModuleNotFoundError as exc:
        if exc.name not in ("sagespec", "sagespec.cookiecutter_hook"):
            raise
    for name in [m for m in sys.modules if m == "sagespec" or m.startswith("sagespec.")]:
        del sys.modules[name]
    package_dir = REPO_DIR / "generator"
    spec = importlib.util.spec_from_file_location(
        "sagespec", package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["sagespec"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("sagespec.cookiecutter_hook")


try:
    hook = import_hook_module()
except ImportError as exc:
    print(
        f"error: cannot load sagespec ({exc}): {sys.executable} -m pip install -e {REPO_DIR}", file=sys.stderr
    )
    sys.exit(2)

sys.exit(hook.main(Path.cwd(), CONTEXT, REPO_DIR))
