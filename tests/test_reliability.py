"""The reliability suite: typos, kills and damaged files, as a careless or unlucky user
meets them. Each case ends with a clear error naming the problem or a correct recovery;
nothing finished is lost or silently trusted. CPU only, tiny sizes."""

import copy
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from fuse_repro import params as P
from fuse_repro.core import data, runstore
from fuse_repro.core.processes import cores
from fuse_repro.core.runstore import stored_runs
from fuse_repro.image import runs as image_runs
from fuse_repro.image.summary import metrics, summary_table
from fuse_repro.toy import runs as toy_runs

ROOT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("FUSE_DATA_MIRROR", ROOT.parent / "shared" / "datasets"))
FASHION = data.REGISTRY["fashion_mnist"][0].files


@pytest.fixture
def committed():
    return P.load(ROOT / "params.yaml")


# ------------------------------------------------------------------ the checker
@pytest.mark.parametrize(
    "path,value,message",
    [
        ("fashion_mnist.quick.batch_size", 20000, "fashion_mnist.quick.batch_size: must be <="),
        ("cifar10.common.normalize", None, None),  # valid: a control
        ("fashion_mnist.quick.fuse_pv.switch_epoch", 10, "fuse_pv.switch_epoch: must be < epochs"),
        ("fashion_mnist.quick.fuse_pv.warmup_epochs", 12, "warmup_epochs: must be < epochs"),
        ("fashion_mnist.common.adam.lr", math.nan, "adam.lr: must be a finite number"),
        ("fashion_mnist.common.adam.lr", math.inf, "adam.lr: must be a finite number"),
        ("fashion_mnist.common.fuse_pv.min_delta", math.nan, "min_delta: must be a finite"),
        ("fashion_mnist.common.fuse_pv.grad_threshold", math.inf, "must be a finite number"),
        ("fashion_mnist.common.sgd.lr", "1e-3", "write 1.0e-3"),
    ],
)
def test_the_checker_refuses_what_cannot_run(committed, path, value, message):
    broken = copy.deepcopy(committed)
    *parents, last = path.split(".")
    node = broken
    for key in parents:
        node = node[key]
    node[last] = value
    if message is None:
        P.validate(broken)
        return
    with pytest.raises(P.ParamsError, match=message.replace("(", r"\(")):
        P.validate(broken)


def test_a_duplicated_key_is_refused_with_its_line(tmp_path):
    text = (
        (ROOT / "params.yaml")
        .read_text()
        .replace("    adam: {lr: 0.001}\n", "    adam: {lr: 0.001, lr: 0.1}\n", 1)
    )
    path = tmp_path / "params.yaml"
    path.write_text(text)
    line = text.splitlines().index("    adam: {lr: 0.001, lr: 0.1}") + 1
    with pytest.raises(P.ParamsError, match=f"(?s)duplicate key 'lr'.*line {line}\\b"):
        P.load(path)


def test_a_key_beside_a_merge_key_replaces_the_merged_one_and_twice_is_refused(tmp_path):
    """toy_finite_sum's blocks take toy's by YAML merge keys: a key written beside the
    merge replaces toy's value there only; written twice, it is refused as anywhere."""
    committed = P.load(ROOT / "params.yaml")
    toy, finite_sum = (P.resolve(committed, name, "paper") for name in ("toy", "toy_finite_sum"))
    assert toy["noise_model"] == "tilt" and finite_sum["noise_model"]["terms"] > 0
    assert finite_sum["starts"] == toy["starts"] and finite_sum["budget"] == toy["budget"]
    assert finite_sum["ablation"]["selection_starts"] and not toy["ablation"]["selection_starts"]
    text = (ROOT / "params.yaml").read_text()
    written = "    noise_scales: [0.01, 0.1] # relative"
    assert text.count(written) == 1
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(written, "    noise_scales: [0.5]\n" + written, 1))
    with pytest.raises(P.ParamsError, match="duplicate key 'noise_scales'"):
        P.load(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_by_the_checker(tmp_path, committed):
    committed["cifar10"]["quick"]["device"] = "cuda"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(committed, sort_keys=False))
    assert P.main([str(path)]) == 2
    committed["cifar10"]["quick"]["device"] = "auto"
    committed["cifar10"]["paper"]["device"] = "cuda"  # the other scale: not run here
    path.write_text(yaml.safe_dump(committed, sort_keys=False))
    assert P.main([str(path)]) == 0


# ------------------------------------------------------------------ the run store
def table(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"step": range(rows), "value": [float(i) for i in range(rows)]})


def check_rows(rows: int):
    def check(name, frame):
        return None if len(frame) == rows else f"{len(frame)} rows, expected {rows}"

    return check


def test_the_run_store_never_deletes_a_finished_run(tmp_path):
    (tmp_path / "other_settings.csv").write_text("step,value\n0,0.0\n")
    (tmp_path / ".half.csv.partial").write_text("crash")
    kept = list(stored_runs(tmp_path, {"a.csv": lambda: table(3)}, check=check_rows(3)))
    assert [name for name, _, _ in kept] == ["a.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "other_settings.csv"]


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_a_damaged_run_file_is_named_set_aside_and_recomputed(tmp_path, capsys, damage):
    path = tmp_path / "a.csv"
    table(5).to_csv(path, index=False)
    if damage == "truncate":
        path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n")
    elif damage == "empty":
        path.write_text("")
    else:
        path.write_bytes(b"\x00\xff garbage \x01")
    ((name, frame, kept),) = stored_runs(tmp_path, {"a.csv": lambda: table(5)}, check=check_rows(5))
    assert not kept and len(frame) == 5 and len(pd.read_csv(path)) == 5
    assert (tmp_path / "a.csv.damaged").is_file()
    assert f"{path}: damaged run file" in capsys.readouterr().err


def test_a_truncated_image_run_fails_its_check():
    settings = {"epochs": 2}
    row = {column: 0 for column in image_runs.LOG_COLUMNS}
    good = pd.DataFrame(
        [dict(row, model="mlp", optimizer="adam", seed=0, epoch=e) for e in range(3)]
    )
    name = "mlp__adam__seed0__0123.csv"
    assert image_runs.check_run(settings, name, good) is None
    assert "2 rows, expected epochs 0..2" in image_runs.check_run(settings, name, good[:2])
    assert "holds the run" in image_runs.check_run(settings, "cnn__adam__seed0__0.csv", good)
    assert "columns" in image_runs.check_run(settings, name, good.drop(columns="phase"))


def test_a_damaged_checkpoint_is_set_aside_and_the_run_starts_over(tmp_path, capsys):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (96, 28, 28), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (96,), generator=gen)
    cpu = torch.device("cpu")
    splits = image_runs.Splits(
        image_runs.Split.from_uint8(x[:64], y[:64], cpu),
        None,
        image_runs.Split.from_uint8(x[64:], y[64:], cpu),
    )
    settings = P.resolve(P.load(ROOT / "params.yaml"), "fashion_mnist", "quick")
    settings.update(epochs=2, batch_size=32)
    fresh = image_runs.train_run("mlp", "adam", 0, settings, splits)
    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    again = image_runs.train_run("mlp", "adam", 0, settings, splits, checkpoint)
    pd.testing.assert_frame_equal(again.drop(columns="wall_time"), fresh.drop(columns="wall_time"))
    assert (tmp_path / "run.pt.damaged").is_file()
    assert "damaged checkpoint" in capsys.readouterr().err


# ------------------------------------------------------------------ processes
def test_toy_workers_are_bounded_by_the_cores(tmp_path, capsys, monkeypatch):
    seen = []

    def record(directory, jobs, workers=1, writer=True, check=None, train=True):
        seen.append(workers)
        return ((name, pd.DataFrame(columns=toy_runs.RECORD_COLUMNS), True) for name in jobs)

    monkeypatch.setattr(runstore, "stored_runs", record)  # what collect_runs calls
    config = P.resolve(P.load(ROOT / "params.yaml"), "toy", "quick")
    toy_runs.run_cells(dict(config, workers=1000), tmp_path)
    assert seen == [cores()] and "1000 asked for" in capsys.readouterr().out


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_toy_stage_leaves_no_process_behind(tmp_path, sig):
    script = tmp_path / "stage.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from fuse_repro import params
            from fuse_repro.toy.runs import run_cells
            config = params.resolve(params.load({str(ROOT / "params.yaml")!r}), "toy", "quick")
            config.update(workers=2, starts=50, budget=5000)
            run_cells(config, Path({str(tmp_path / "runs")!r}))
            """
        )
    )
    stage = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(children_of(stage.pid)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = children_of(stage.pid)
    assert len(workers) >= 2, "the pool never started"
    os.kill(stage.pid, sig)
    stage.wait(timeout=30)
    deadline = time.time() + 20
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"processes left behind: {alive}"


# ------------------------------------------------------------------ data
@pytest.mark.skipif(not (MIRROR / "fashion-mnist").is_dir(), reason=f"no mirror at {MIRROR}")
def test_a_damaged_raw_file_is_replaced_from_the_mirror(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "download_url", None)  # never the network
    data_dir = tmp_path / "data"
    data.fetch(data_dir, datasets=["fashion_mnist"], mirror=MIRROR, allow_download=False)
    target = data_dir / FASHION[0].path
    damaged = bytearray(target.read_bytes())
    damaged[100] ^= 0xFF
    target.write_bytes(bytes(damaged))
    leftover = target.parent / f".{target.name}.partial-killed"  # a killed fetch's folder
    leftover.mkdir()
    (leftover / target.name).write_bytes(b"half")
    origins = data.fetch(data_dir, datasets=["fashion_mnist"], mirror=MIRROR, allow_download=False)
    assert origins[FASHION[0].path].startswith("copied from")
    record = json.loads(data.verified_path(data_dir).read_text())
    assert record[FASHION[0].path] == {"md5": FASHION[0].checksum}
    assert data.checksum(target, "md5") == FASHION[0].checksum
    assert not leftover.exists()


def test_dvc_never_records_a_damaged_raw_file_and_failures_keep_outputs():
    """No stage depends on data/ itself, only on what `make data` verified, and data.dvc
    is frozen: `dvc repro` never hashes a damaged raw file into a record. prepare's output
    and every metrics file persist, so a failed stage deletes none of them."""
    assert yaml.safe_load((ROOT / "data.dvc").read_text())["frozen"] is True
    assert ".*.partial-*" in (ROOT / ".dvcignore").read_text().split()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    deps = [
        dep
        for stage in stages.values()
        for dep in stage.get("deps", stage.get("do", {}).get("deps", []))
    ]
    assert "data" not in deps and "data.verified.json" in stages["prepare"]["deps"]
    assert stages["prepare"]["outs"] == [{"prepared": {"persist": True}}]
    for stage in (stages["image"]["do"], stages["toy"]["do"]):
        ((_, options),) = stage["metrics"][0].items()
        assert options == {"cache": False, "persist": True}


# ------------------------------------------------------------------ metrics
def test_metrics_are_strict_json_with_a_diverged_flag():
    log = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "optimizer": ["adam", "adam", "lbfgs", "lbfgs"],
            "seed": [0] * 4,
            "epoch": [0, 1, 0, 1],
            "closure_evals": [0, 10, 0, 40],
            "charged_evals": [0, 10, 0, 40],
            "wall_time": [0.0, 1.0, 0.0, 2.0],
            "train_loss": [2.3, 1.0, 2.3, math.nan],
            "test_accuracy": [0.1, 0.5, 0.1, 0.1],
            "phase": ["adam", "adam", "lbfgs", "lbfgs"],
            "switch_epoch": [math.nan] * 4,
        }
    )
    out = metrics(summary_table(log, 0.4))
    text = json.dumps(out, allow_nan=False)  # raises on NaN or infinity
    assert out["m"]["lbfgs"]["train_loss"] is None and out["m"]["lbfgs"]["diverged"] is True
    assert out["m"]["adam"]["diverged"] is False and "NaN" not in text
