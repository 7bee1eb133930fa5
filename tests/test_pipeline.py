"""The whole pipeline, end to end, as a newcomer runs it: a copy of the repository, the
data step on the local mirror (never the network), `dvc repro` at a CI-sized scale, every
declared output present, and a second `dvc repro` that does nothing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo

from fuse_repro.toy.settings import STUDIES
from tests.helpers import MIRROR, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no local data mirror at {MIRROR}"),
]


def run(command, cwd, env):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def ci_scale(params: dict) -> dict:
    """Shrink the quick block so the full pipeline fits a CI run (every optimizer kept)."""
    quick = params["fashion_mnist"]["quick"]
    quick.update(seeds=[0], epochs=2, train_size=1024, test_size=2000)
    quick["adam_sgd"]["switch_epoch"] = 1
    quick["fuse_pv"].update(switch_epoch=1, warmup_epochs=1)
    cifar = params["cifar10"]["quick"]
    cifar.update(seeds=[0], epochs=2, batch_size=64, train_size=256, test_size=256)
    cifar["adam_sgd"]["switch_epoch"] = 1
    cifar["fuse_pv"].update(switch_epoch=1, warmup_epochs=1)
    for study in STUDIES:  # new mappings: a study's blocks share toy's (YAML merge keys)
        toy = params[study]["quick"]
        toy.update(
            functions=[{"name": "rosenbrock", "dim": 2}, {"name": "ackley", "dim": 3}],
            starts=2,
            budget=60,
            steps_per_epoch=5,
            fuse={"thetas": [0.5]},
            fuse_pv={"switch_epoch": 2, "warmup_epochs": 1},
        )
        toy["ablation"] = {
            "noise_scales": [0.0, params[study]["common"]["noise_scales"][-1]],
            "sweeps": {
                "switch_epoch": [0, 2],
                "theta": [0.5],
                "grad_threshold": [0.5],
                "min_delta": [0.01],
                "history_size": [3],
            },
        }
    params["pinn"]["quick"].update(
        width=8,
        depth=2,
        collocation=64,
        condition_points=16,
        budget=60,
        log_every=10,
        steps_per_epoch=10,
        switch_epochs=[2],
    )
    for sweep in params["sweeps"].values():  # their switch epochs must fit the shrunk epochs
        for space in sweep["optimizers"].values():
            for path in space:  # FUSE-PV's switch, the controls' decay and switch epochs
                if path.endswith(".switch_epoch"):
                    space[path] = [0, 1]
    return params


def declared_outputs(path: Path) -> list[str]:
    """Every output of every stage of the repository at ``path`` (as DVC resolves its
    templates) and every plot's file or folder."""
    with Repo(str(path)) as repo:
        paths = [str(out.def_path) for stage in repo.index.stages for out in stage.outs]
    for plot in yaml.safe_load((path / "dvc.yaml").read_text()).get("plots", []):
        paths.append(plot if isinstance(plot, str) else next(iter(plot)))
    return paths


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh copy of the tracked (and new, unignored) files, as a git repository."""
    target = tmp_path_factory.mktemp("clone") / "fuse-repro"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    params_path = target / "params.yaml"
    params_path.write_text(
        yaml.safe_dump(
            ci_scale(yaml.safe_load(params_path.read_text())), sort_keys=False, allow_unicode=True
        )
    )
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "copy"],
    ):
        run(command, target, env)
    return target, env


def test_dvc_repro_builds_everything_and_a_second_run_is_a_no_op(repo):
    path, env = repo
    run(
        [
            sys.executable,
            "-m",
            "fuse_repro.core.data",
            "fetch",
            "--data-dir",
            "data",
            "--mirror",
            str(MIRROR),
            "--offline",
        ],
        path,
        env,
    )
    run(["dvc", "commit", "--force", "--quiet", "data.dvc"], path, env)  # as `make data`
    assert "data.dvc" not in run(["git", "status", "--porcelain"], path, env)
    run(["dvc", "repro"], path, env)
    declared = declared_outputs(path)
    assert len(declared) > 10
    for output in declared:
        assert (path / output).exists(), output
    report = (path / "reports" / "quick" / "report.html").read_text()
    assert "FashionMNIST" in report and "data:image/png;base64," in report
    assert "CIFAR-10 (JPEG re-encoding)" in report and "4,682 parameters" in report
    markdown = (path / "reports" / "quick" / "report.md").read_text()
    assert "FUSE-PV (epoch)" in markdown and "Toy ablation" in markdown
    figures = path / "reports" / "quick" / "report_files"
    assert "](report_files/" in markdown and list(figures.glob("*.png"))

    stamps = {p: p.stat().st_mtime_ns for p in (path / "results").rglob("*") if p.is_file()}
    second = run(["dvc", "repro"], path, env)
    assert "Running stage" not in second
    assert stamps == {p: p.stat().st_mtime_ns for p in (path / "results").rglob("*") if p.is_file()}
    assert "up to date" in run(["dvc", "status"], path, env)


def test_a_notebook_runs_from_notebooks_as_in_jupyterlab(repo, tmp_path):
    """JupyterLab runs a notebook with its folder as the working directory; the notebook
    finds the repository root itself and reads what the pipeline wrote."""
    path, env = repo
    if not (path / "dvc.lock").exists():
        pytest.skip("needs the pipeline built by the first test")
    executed = tmp_path / "report.ipynb"
    run(
        ["papermill", "notebooks/report.ipynb", str(executed), "--cwd", "notebooks"],
        path,
        env,
    )
    assert "Toy ablation" in executed.read_text()


def test_a_damaged_raw_file_is_refused_and_never_recorded(repo):
    """A flipped byte in data/: `dvc repro` records nothing (no stage depends on data/
    itself), a forced prepare stops naming the file and keeps prepared/, data.dvc stays
    untouched; `make data`'s fetch replaces the file from the mirror."""
    path, env = repo
    if not (path / "dvc.lock").exists():
        pytest.skip("needs the pipeline built by the first test")
    raw = path / "data" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    original, prepared = raw.read_bytes(), (path / "prepared" / "fashion_mnist.pt").read_bytes()
    raw.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])
    assert "Running stage" not in run(["dvc", "repro"], path, env)
    result = subprocess.run(
        ["dvc", "repro", "-f", "-s", "prepare"], cwd=path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "checksum mismatch" in result.stdout + result.stderr
    assert str(raw.relative_to(path)) in result.stdout + result.stderr
    assert "data.dvc" not in run(["git", "status", "--porcelain"], path, env)
    assert (path / "prepared" / "fashion_mnist.pt").read_bytes() == prepared
    command = [sys.executable, "-m", "fuse_repro.core.data", "fetch", "--data-dir", "data"]
    run(command + ["--mirror", str(MIRROR), "--offline"], path, env)
    assert raw.read_bytes() == original
    run(["dvc", "repro", "-f", "-s", "prepare"], path, env)  # decodes the same tensors
    assert (path / "prepared" / "fashion_mnist.pt").read_bytes() == prepared


def test_changing_one_experiment_parameter_reruns_that_stage_and_the_report(repo):
    path, env = repo
    if not (path / "dvc.lock").exists():
        pytest.skip("needs the pipeline built by the previous test")
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["fashion_mnist"]["paper"]["epochs"] = 60  # the other scale: nothing depends on it
    params["toy"]["paper"]["starts"] = 3
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    assert "Running stage" not in run(["dvc", "repro", "image", "toy"], path, env)
    params["fashion_mnist"]["quick"]["adam"] = {"lr": 2e-3}
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    rerun = run(["dvc", "repro"], path, env)
    assert "Running stage 'image@fashion_mnist'" in rerun
    assert "Running stage 'report'" in rerun
    assert "Running stage 'prepare'" not in rerun
    assert "Running stage 'toy@" not in rerun and "Running stage 'image@cifar10'" not in rerun
