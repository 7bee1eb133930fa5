"""The data step: fetching with verification, atomic writes, decoding, the command line.

Never touches the network: every download is patched to fail loudly. Real files come from the
local mirror (``../shared/datasets``, read-only); CIFAR-10 is faked with tiny archives.
"""

import dataclasses
import io
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.utils
from torchvision.io import encode_jpeg

from fuse_repro.core import data
from fuse_repro.core.data import DataError
from tests.helpers import MIRROR

FASHION = data.REGISTRY["fashion_mnist"][0].files
# torchvision 0.29 deprecates its JPEG codec in favour of TorchCodec; it still works.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")
needs_mirror = pytest.mark.skipif(
    not (MIRROR / "fashion-mnist").is_dir(), reason=f"no local dataset mirror at {MIRROR}"
)


class NetworkUsed(Exception):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Safety net: any download attempt fails the test; no mirror comes from the environment."""

    def refuse(*args, **kwargs):
        raise NetworkUsed(f"a test tried to download: {args}")

    monkeypatch.setattr(data, "download_url", refuse)
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", refuse)
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def use_fake_source(monkeypatch, dataset: str, source: str, archive: Path) -> None:
    """Make the registry's only source for ``dataset`` the file ``archive`` (under data/)."""
    original = next(s for s in data.REGISTRY[dataset] if s.name == source)
    raw = dataclasses.replace(
        original.files[0], algorithm="sha256", checksum=data.checksum(archive, "sha256"), urls=()
    )
    monkeypatch.setitem(data.REGISTRY, dataset, (dataclasses.replace(original, files=(raw,)),))


def colour(label: int, index: int) -> list[int]:
    return [20 * label + 10, 40 * index + 30, 200]


def fake_jpeg_tar(path: Path, per_class: int = 2) -> None:
    """A tiny CIFAR-10 JPEG tar, members in reverse order, each image one flat colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("test", "train"):
            for label, name in reversed(list(enumerate(data.CIFAR10_CLASSES))):
                for index in reversed(range(per_class)):
                    image = torch.tensor(colour(label, index), dtype=torch.uint8)
                    payload = (
                        encode_jpeg(image.view(3, 1, 1).expand(3, 32, 32).contiguous(), quality=95)
                        .numpy()
                        .tobytes()
                    )
                    member = tarfile.TarInfo(f"{split}/{name}/{index:04d}.jpg")
                    member.size = len(payload)
                    tar.addfile(member, io.BytesIO(payload))


def fake_official_tar(path: Path, per_batch: int = 3) -> None:
    """A tiny ``cifar-10-python.tar.gz``: pickled batches as in the official archive."""

    def add(tar, name, obj):
        payload = pickle.dumps(obj)
        member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
            add(
                tar,
                name,
                {"data": np.full((per_batch, 3072), i, dtype=np.uint8), "labels": [i] * per_batch},
            )
        add(tar, "batches.meta", {"label_names": list(data.CIFAR10_CLASSES)})
        add(tar, "readme.html", "not a pickle of a batch")


@needs_mirror
def test_fetch_from_mirror_verifies_then_keeps(tmp_path):
    data_dir = tmp_path / "data"
    origins = data.fetch(data_dir, mirror=MIRROR, allow_download=False)
    expected = {f.path for f in FASHION} | {"cifar10-jpeg/cifar10-jpeg.tar.gz"}
    assert set(origins) == expected == files_under(data_dir)  # no temporary files left
    assert all(origin.startswith(f"copied from {MIRROR}") for origin in origins.values())
    for raw in FASHION:
        assert data.checksum(data_dir / raw.path, "md5") == raw.checksum

    again = data.fetch(data_dir, mirror=MIRROR, allow_download=False)
    assert all(origin.startswith("kept") for origin in again.values())


def test_mirror_comes_from_the_environment(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    fake_jpeg_tar(mirror / "cifar10-jpeg" / "cifar10-jpeg.tar.gz")
    use_fake_source(
        monkeypatch, "cifar10", "jpeg-reencoding", mirror / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    )
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    origins = data.fetch(tmp_path / "data", datasets=["cifar10"], allow_download=False)
    assert origins == {
        "cifar10-jpeg/cifar10-jpeg.tar.gz": "copied from "
        + str(mirror / "cifar10-jpeg" / "cifar10-jpeg.tar.gz")
    }


def test_corrupted_file_in_data_dir_without_a_good_copy_is_an_error(tmp_path):
    target = tmp_path / "data" / FASHION[0].path
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupted")
    with pytest.raises(DataError) as error:
        data.fetch(tmp_path / "data", datasets=["fashion_mnist"], allow_download=False)
    message = str(error.value)
    assert str(target) in message and "damaged" in message and FASHION[0].checksum in message
    assert data.checksum(target, "md5") in message and "no mirror" in message


def test_missing_file_without_any_source_names_it(tmp_path):
    with pytest.raises(DataError) as error:
        data.fetch(tmp_path / "data", datasets=["fashion_mnist"], allow_download=False)
    message = str(error.value)
    assert FASHION[0].path in message and "no mirror" in message and "--offline" in message


def test_missing_mirror_is_an_error_before_any_work(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.fetch(tmp_path / "data", mirror=tmp_path / "nowhere")
    assert not (tmp_path / "data").exists()


def test_corrupted_mirror_file_never_reaches_the_data_dir(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "fashion-mnist").mkdir(parents=True)
    (mirror / FASHION[0].path).write_bytes(b"half a file")
    with pytest.raises(DataError) as error:
        data.fetch(
            tmp_path / "data", datasets=["fashion_mnist"], mirror=mirror, allow_download=False
        )
    assert str(mirror / FASHION[0].path) in str(error.value)
    assert FASHION[0].checksum in str(error.value)
    assert not any((tmp_path / "data").rglob("*.gz"))
    assert list((tmp_path / "data" / "fashion-mnist").iterdir()) == []  # no temporary files


def test_download_is_verified_and_failures_are_listed(tmp_path, monkeypatch):
    payload = tmp_path / "payload"
    fake_jpeg_tar(payload)
    use_fake_source(monkeypatch, "cifar10", "jpeg-reencoding", payload)
    raw = data.REGISTRY["cifar10"][0].files[0]
    raw = dataclasses.replace(raw, urls=("https://down.example/x", "https://up.example/x"))
    source = dataclasses.replace(data.REGISTRY["cifar10"][0], files=(raw,))
    monkeypatch.setitem(data.REGISTRY, "cifar10", (source,))

    def fake_download(url, root, filename):
        if "down" in url:
            raise OSError("host unreachable")
        (Path(root) / filename).write_bytes(payload.read_bytes())

    monkeypatch.setattr(data, "download_url", fake_download)
    origins = data.fetch(tmp_path / "data", datasets=["cifar10"])
    assert origins == {raw.path: "downloaded from https://up.example/x"}
    assert files_under(tmp_path / "data") == {raw.path}

    (tmp_path / "data" / raw.path).unlink()
    monkeypatch.setattr(
        data,
        "download_url",
        lambda url, root, filename: fake_download("https://down.example", root, filename),
    )
    with pytest.raises(DataError, match="host unreachable"):
        data.fetch(tmp_path / "data", datasets=["cifar10"])
    assert files_under(tmp_path / "data") == set()
    assert not (tmp_path / "data" / raw.path).parent.exists()  # no empty folder left


@needs_mirror
def test_prepare_fashion_mnist_from_the_real_files(tmp_path):
    manifest = data.prepare(MIRROR, tmp_path / "prepared", datasets=["fashion_mnist"])
    d = data.load_prepared(tmp_path / "prepared", "fashion_mnist")
    assert d["train_x"].shape == (60000, 28, 28) and d["test_x"].shape == (10000, 28, 28)
    assert d["train_x"].dtype == d["test_x"].dtype == torch.uint8
    assert d["train_y"].dtype == d["test_y"].dtype == torch.int64
    assert torch.bincount(d["train_y"]).tolist() == [6000] * 10
    assert torch.bincount(d["test_y"]).tolist() == [1000] * 10
    assert len(d["classes"]) == 10 and d["source_label"] == "Fashion-MNIST (official files)"
    entry = manifest["fashion_mnist"]
    assert entry["files"][FASHION[0].path] == {"md5": FASHION[0].checksum}
    assert entry["shapes"]["train_x"] == [60000, 28, 28]
    assert files_under(tmp_path / "prepared") == {"fashion_mnist.pt", "manifest.json"}


def test_prepare_cifar10_jpeg_orders_by_class_then_name(tmp_path, monkeypatch):
    archive = tmp_path / "data" / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    fake_jpeg_tar(archive)
    use_fake_source(monkeypatch, "cifar10", "jpeg-reencoding", archive)
    manifest = data.prepare(tmp_path / "data", tmp_path / "prepared", datasets=["cifar10"])
    d = data.load_prepared(tmp_path / "prepared", "cifar10")
    assert d["train_x"].shape == d["test_x"].shape == (20, 3, 32, 32)
    assert d["train_x"].dtype == torch.uint8 and d["train_y"].dtype == torch.int64
    assert d["train_y"].tolist() == [label for label in range(10) for _ in range(2)]
    means = d["train_x"].float().mean(dim=(2, 3))
    wanted = torch.tensor([colour(label, i) for label in range(10) for i in range(2)]).float()
    assert (means - wanted).abs().max() < 4  # JPEG is lossy
    assert d["source"] == "jpeg-reencoding"
    assert d["source_label"] == manifest["cifar10"]["source_label"] == "CIFAR-10 (JPEG re-encoding)"


def test_prepare_cifar10_official_archive(tmp_path, monkeypatch):
    archive = tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz"
    fake_official_tar(archive)
    use_fake_source(monkeypatch, "cifar10", "official", archive)
    data.prepare(tmp_path / "data", tmp_path / "prepared", datasets=["cifar10"])
    d = data.load_prepared(tmp_path / "prepared", "cifar10")
    assert d["train_x"].shape == (15, 3, 32, 32) and d["test_x"].shape == (3, 3, 32, 32)
    assert d["train_y"].tolist() == [i for i in range(5) for _ in range(3)]
    assert (d["test_x"] == 5).all() and d["test_y"].tolist() == [5, 5, 5]
    assert d["classes"] == list(data.CIFAR10_CLASSES)
    assert (d["source"], d["source_label"]) == ("official", "CIFAR-10")


def test_prepare_and_load_say_what_to_run_when_inputs_are_missing(tmp_path):
    with pytest.raises(DataError, match="fuse_repro.core.data fetch"):
        data.prepare(tmp_path / "data", tmp_path / "prepared", datasets=["cifar10"])
    with pytest.raises(DataError, match="dvc repro prepare"):
        data.load_prepared(tmp_path / "prepared", "fashion_mnist")


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert (
        data.main(
            ["fetch", "--data-dir", str(tmp_path), "--mirror", str(tmp_path / "no"), "--offline"]
        )
        == 1
    )
    assert "error: mirror directory" in capsys.readouterr().err

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuse_repro.core.data",
            "prepare",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "p"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: fashion_mnist: no raw files")
    assert "Traceback" not in result.stderr
