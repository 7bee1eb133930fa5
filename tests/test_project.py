"""Repository hygiene that a newcomer relies on: notebooks, pipeline, environments."""

import ast
import json
import re
import shlex
from pathlib import Path

import papermill
import pytest
import yaml
from dvc.repo import Repo

from fuse_repro.core.paths import metrics_path, results_dir, sweep_dir, sweep_metrics_path
from fuse_repro.image.settings import DATASETS
from fuse_repro.params import load
from fuse_repro.toy.settings import STUDIES
from tests.helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def stages() -> dict[str, dict]:
    """The stages of dvc.yaml as DVC resolves them (templates, variables and anchors
    expanded): ``{name: {"cmd": ..., "deps": [...], "outs": {path: cached}}}``."""
    with Repo(str(ROOT)) as repo:
        return {
            stage.addressing: {
                "cmd": stage.cmd,
                "deps": [str(dep.def_path) for dep in stage.deps],
                "outs": {str(out.def_path): out.use_cache for out in stage.outs},
            }
            for stage in repo.index.stages
            if stage.cmd is not None  # data.dvc
        }


def papermill_command(stage: dict) -> list[str] | None:
    """The papermill command of a stage (its ``cmd`` is one string or a list), split."""
    commands = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
    for command in commands:
        words = shlex.split(command.split("&&")[-1])
        if words and words[0] == "papermill":
            return words
    return None


def notebook_stages() -> dict[str, dict]:
    return {name: stage for name, stage in stages().items() if papermill_command(stage)}


def test_one_template_notebook_per_family_and_the_report_each_scale_its_stage():
    assert {p.stem for p in NOTEBOOKS} == {"image", "toy", "pinn", "sweep", "report"}
    experiments = [f"image{{}}@{name}" for name in DATASETS]
    experiments += [f"toy{{}}@{name}" for name in STUDIES] + ["pinn{}", "report{}"]
    expected = {name.format(suffix) for name in experiments for suffix in ("", "_paper")}
    expected |= {f"sweep@{name}" for name in load(ROOT / "params.yaml")["sweeps"]}
    assert set(notebook_stages()) == expected


@pytest.mark.parametrize("name", sorted(n for n in notebook_stages() if n.startswith("sweep@")))
def test_a_sweeps_outputs_are_where_the_code_writes_them_and_in_git(name):
    sweep = name.removeprefix("sweep@")
    expected = [sweep_dir(ROOT, sweep), sweep_metrics_path(ROOT, sweep)]
    outs = notebook_stages()[name]["outs"]
    assert sorted(outs) == sorted(str(path.relative_to(ROOT)) for path in expected)
    assert not any(outs.values())  # committed, never in DVC's cache


@pytest.mark.parametrize("name", sorted(n for n in notebook_stages() if "sweep@" not in n))
def test_stage_outputs_are_where_the_code_writes_them_and_the_paper_scale_is_in_git(name):
    """Folders from fuse_repro.core.paths; the paper scale's outputs tracked by git
    (results of record), the quick scale's in DVC's cache."""
    stage = notebook_stages()[name]
    command = papermill_command(stage)
    scale = command[command.index("scale") + 1]
    assert scale == ("paper" if name.split("@")[0].endswith("_paper") else "quick")
    family = name.split("@")[0].removesuffix("_paper")
    experiment = command[command.index("experiment") + 1] if "experiment" in command else family
    if name.startswith("report"):
        expected = [f"reports/{scale}"]
    else:
        expected = [
            str(path.relative_to(ROOT))
            for path in (
                results_dir(ROOT, scale, experiment),
                metrics_path(ROOT, scale, experiment),
            )
        ]
    assert sorted(stage["outs"]) == sorted(expected)
    folders = [path for path in expected if not path.endswith(".json")]
    assert all(stage["outs"][path] == (scale == "quick") for path in folders)


@pytest.mark.parametrize("name", sorted(notebook_stages()))
def test_stage_passes_only_declared_notebook_parameters(name):
    stage = notebook_stages()[name]
    command = papermill_command(stage)
    notebook = ROOT / command[1]
    passed = {command[i + 1] for i, word in enumerate(command) if word == "-p"}
    declared = set(papermill.inspect_notebook(str(notebook)))
    assert passed <= declared
    assert str(notebook.relative_to(ROOT)) in stage["deps"]
    assert command[2] != command[1]  # never executed in place


def imported_modules(source: str) -> set[str]:
    """``src/``-relative paths of the project modules ``source`` imports, in any form
    (``import fuse_repro.x``, ``from fuse_repro.x import y`` where ``y`` is a module or a
    name, ``from fuse import FUSE``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    paths = set()
    for name in names:
        if name != "fuse" and not name.startswith("fuse_repro"):
            continue
        base = ROOT / "src" / name.replace(".", "/")
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                paths.add(str(candidate.relative_to(ROOT / "src")))
    return paths


def test_stage_deps_cover_every_module_each_notebook_runs():
    """The notebook's imports and, transitively, theirs: a change to any of them must
    rerun the stage (a dependency may be the folder that holds the module)."""
    for name, stage in notebook_stages().items():
        notebook = papermill_command(stage)[1]
        source = "\n".join(
            "".join(c["source"])
            for c in json.loads((ROOT / notebook).read_text())["cells"]
            if c["cell_type"] == "code"
        )
        todo, seen = imported_modules(source), set()
        while todo:
            module = todo.pop()
            seen.add(module)
            todo |= imported_modules((ROOT / "src" / module).read_text()) - seen
        assert "fuse_repro/params.py" in seen
        for module in seen:
            path = Path("src") / module
            assert any(path == Path(dep) or Path(dep) in path.parents for dep in stage["deps"]), (
                name,
                module,
            )


def test_dvc_lock_holds_only_the_stages_of_dvc_yaml():
    """A renamed or removed stage leaves its entry in dvc.lock (DVC keeps it): a stale
    entry names outputs that no stage writes."""
    locked = set(yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"])
    assert locked <= set(stages())


def test_environment_yml_pins_the_same_packages_as_requirements():
    pip_pins = next(
        d["pip"]
        for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
        if isinstance(d, dict)
    )
    requirements = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pip_pins == requirements
    assert all("==" in pin for pin in requirements)


def test_dvc_never_phones_home():
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"analytics\s*=\s*false", config)
    assert re.search(r"check_update\s*=\s*false", config)
