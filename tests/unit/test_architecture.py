"""The package's shape, checked: the dependency rules (import-linter's contracts in
pyproject.toml) and module names a reader cannot confuse (docs/architecture.md "Naming")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import defaultdict
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "tidings-core" / "tidings"
FUNCTIONS = ROOT / "functions"

# The file roles every feature uses; each feature may have one of each.
ROLES = {"__init__", "declaration", "compose", "models", "records", "wire"}


def test_the_dependency_rules_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a dev dependency (make install)"
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _modules(root: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        found[path.stem].append(path.relative_to(ROOT))
    return found


def test_no_module_is_named_like_the_standard_library_or_an_installed_package():
    # A handler module is imported top-level on Lambda, so `typing.py` there would shadow the
    # standard library; inside the package such a name still misleads a reader.
    taken = set(sys.stdlib_module_names) | set(packages_distributions())
    clashes = {
        str(path): name
        for root in (PACKAGE, FUNCTIONS)
        for name, paths in _modules(root).items()
        if name != "__init__" and name in taken
        for path in paths
    }
    assert clashes == {}


def test_handler_modules_are_unique_across_the_repository():
    handlers = _modules(FUNCTIONS)
    elsewhere = _modules(PACKAGE)
    repeated = {name: paths for name, paths in handlers.items() if len(paths) > 1 or name in elsewhere}
    assert repeated == {}


def test_only_the_feature_roles_repeat_a_file_name_in_the_package():
    repeated = {name: paths for name, paths in _modules(PACKAGE).items() if len(paths) > 1 and name not in ROLES}
    assert repeated == {}


# The project's own docs state the contract; nothing in the repository points outside it.
OUTSIDE_CITATIONS = re.compile(r"PROTOCOL\.md|ARCHITECTURE\.md|SEED-design|\.\./shared|\bseed §")


def test_nothing_cites_design_documents_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    citing = []
    for name in tracked.splitlines():
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".js", ".toml", ".yaml", ".yml", ".html", ".json"} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE_CITATIONS.search(line) and path != Path(__file__):
                citing.append(f"{name}:{number}: {line.strip()}")
    assert not citing, "say it in docs/ instead:\n" + "\n".join(citing)
