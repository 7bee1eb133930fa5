"""The raw datasets: where they come from, how they are verified, and their decoded form.

``fetch`` puts the raw files under ``data/``: a file already there is kept once its checksum
verifies, else it is copied from a local mirror (``--mirror`` or ``$FUSE_DATA_MIRROR``), else
downloaded from its official location. ``prepare`` decodes them once into uint8 tensors
(``prepared/<dataset>.pt``) and writes ``prepared/manifest.json``; the experiments call
``load_prepared``. Nothing half-written ever lands in ``data/`` or ``prepared/``: every file is
written under a temporary name next to its target and renamed once complete (and verified).

Command line::

    python -m fuse_repro.core.data fetch [--data-dir data] [--mirror DIR] [--datasets ...]
        [--offline]
    python -m fuse_repro.core.data prepare [--data-dir data] [--out prepared] [--datasets ...]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, FashionMNIST
from torchvision.datasets.utils import download_url
from torchvision.io import ImageReadMode, decode_jpeg

MIRROR_ENV = "FUSE_DATA_MIRROR"
DATASETS = ("fashion_mnist", "cifar10")
SPLIT_SIZES = {
    "fashion_mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
}
"""The images in each dataset's standard training and test splits."""
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FETCH_HINT = "python -m fuse_repro.core.data fetch"


class DataError(Exception):
    """A data file is missing, corrupted or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class RawFile:
    """One raw file: its path relative to ``data/`` (the same under a mirror) and checksum."""

    path: str
    algorithm: str  # a hashlib name
    checksum: str
    urls: tuple[str, ...]  # official download locations, tried in order; empty: mirror only


@dataclass(frozen=True)
class Source:
    """One complete set of raw files for a dataset, and how results on it are labelled."""

    name: str
    label: str
    files: tuple[RawFile, ...]


# Per dataset, its sources in order of preference: any one of them is enough.
REGISTRY: dict[str, tuple[Source, ...]] = {
    "fashion_mnist": (
        Source(
            "official",
            "Fashion-MNIST (official files)",
            tuple(
                RawFile(
                    f"fashion-mnist/{name}",
                    "md5",
                    md5,
                    tuple(mirror + name for mirror in FashionMNIST.mirrors),
                )
                for name, md5 in FashionMNIST.resources
            ),
        ),
    ),
    "cifar10": (
        Source(
            "official",
            "CIFAR-10",
            (RawFile(f"cifar10/{CIFAR10.filename}", "md5", CIFAR10.tgz_md5, (CIFAR10.url,)),),
        ),
        # Real CIFAR-10 images re-encoded as JPEG (lossy), available from local mirrors only.
        Source(
            "jpeg-reencoding",
            "CIFAR-10 (JPEG re-encoding)",
            (
                RawFile(
                    "cifar10-jpeg/cifar10-jpeg.tar.gz",
                    "sha256",
                    "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db",
                    (),
                ),
            ),
        ),
    ),
}


class _Unavailable(Exception):
    """No source could provide a file; the message lists what was tried."""


def checksum(path: Path, algorithm: str) -> str:
    """The hex digest of a file."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, raw: RawFile, what: str, fix: str) -> str:
    """Raise a DataError naming ``what`` unless ``path`` has the checksum of ``raw``."""
    actual = checksum(path, raw.algorithm)
    if actual != raw.checksum:
        raise DataError(
            f"{what}: {raw.algorithm} checksum mismatch (expected {raw.checksum}, "
            f"got {actual}); {fix}"
        )
    return actual


@contextlib.contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target``, renamed to it if the block succeeds, else removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=_partial_prefix(target)) as tmp:
        path = Path(tmp) / target.name
        yield path
        os.replace(path, target)


def _partial_prefix(target: Path) -> str:
    """The name prefix of :func:`_atomic`'s temporary folders for ``target`` (ignored by
    DVC: ``.dvcignore``; removed by the next fetch if a killed one left them)."""
    return f".{target.name}.partial-"


def _check_names(datasets: Sequence[str]) -> None:
    unknown = [name for name in datasets if name not in REGISTRY]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {list(REGISTRY)}")


def _mirror_dir(mirror: str | os.PathLike | None) -> Path | None:
    """The mirror directory: the argument, else ``$FUSE_DATA_MIRROR``, else none."""
    origin = "--mirror"
    if mirror is None:
        mirror, origin = os.environ.get(MIRROR_ENV) or None, f"${MIRROR_ENV}"
    if mirror is None:
        return None
    path = Path(mirror).expanduser()
    if not path.is_dir():
        raise DataError(f"mirror directory {path} (from {origin}) does not exist")
    return path


def _fetch_file(raw: RawFile, data_dir: Path, mirror: Path | None, allow_download: bool) -> str:
    """Make ``data_dir/raw.path`` a verified copy of ``raw``; return where it came from."""
    target = data_dir / raw.path
    for leftover in target.parent.glob(f"{_partial_prefix(target)}*"):
        shutil.rmtree(leftover, ignore_errors=True)  # of a fetch that was killed
    tried = []
    if target.exists():
        try:
            _verify(target, raw, str(target), "")
            return f"kept (already in {data_dir}, {raw.algorithm} verified)"
        except DataError as bad:  # replaced below from a good copy, if one is found
            tried.append(f"{target} is damaged ({bad})")
            print(f"{target}: damaged; replacing it from a good copy", file=sys.stderr)
    if mirror is None:
        tried.append(f"no mirror (--mirror DIR or ${MIRROR_ENV})")
    elif (mirror / raw.path).is_file():
        origin = mirror / raw.path
        with _atomic(target) as tmp:
            shutil.copyfile(origin, tmp)
            _verify(
                tmp,
                raw,
                str(origin),
                f"the mirror's copy is bad; nothing was written "
                f"to {data_dir}; replace it or use another --mirror",
            )
        return f"copied from {origin}"
    else:
        tried.append(f"{mirror / raw.path} (not there)")
    if not allow_download:
        tried.append("download (disabled by --offline)")
    elif not raw.urls:
        tried.append("download (no official URL: mirror-only file)")
    for url in raw.urls if allow_download else ():
        try:
            with _atomic(target) as tmp:
                download_url(url, str(tmp.parent), tmp.name)
                _verify(
                    tmp,
                    raw,
                    url,
                    f"nothing was written to {data_dir}; try again later or use --mirror",
                )
            return f"downloaded from {url}"
        except (OSError, RuntimeError) as error:
            tried.append(f"{url} ({error})")
    with contextlib.suppress(OSError):  # leave no empty folder behind a failed download
        target.parent.rmdir()
    raise _Unavailable(f"{raw.path}, tried: {'; '.join(tried)}")


def fetch(
    data_dir: str | os.PathLike = "data",
    datasets: Sequence[str] = DATASETS,
    mirror: str | os.PathLike | None = None,
    allow_download: bool = True,
) -> dict[str, str]:
    """Put the raw files of ``datasets`` under ``data_dir``, each verified by its checksum.

    Per file: kept if already in ``data_dir`` with the right checksum, else (missing, or
    damaged: then replaced) copied from ``mirror`` (else ``$FUSE_DATA_MIRROR``) if it holds
    the file, else downloaded through torchvision if ``allow_download``; every copy is
    verified before it replaces anything, and temporary folders of a killed fetch are
    removed. For a dataset with several sources (CIFAR-10: the
    official archive or the JPEG re-encoding), a source complete in ``data_dir`` is kept, else
    the first that can be completed is fetched, official first.
    Then records what it verified in :func:`verified_path` (``prepare``'s dependency in
    ``dvc.yaml``, so that DVC never hashes ``data/`` itself: a damaged raw file can never
    reach a record). Returns ``{path relative to data_dir: where it came from}``; raises
    DataError.
    """
    data_dir = Path(data_dir)
    _check_names(datasets)
    mirror = _mirror_dir(mirror)
    origins = {}
    for name in datasets:
        sources = REGISTRY[name]
        present = [s for s in sources if all((data_dir / f.path).exists() for f in s.files)]
        tried = []
        for source in present + [s for s in sources if s not in present]:
            try:
                origins.update(
                    {f.path: _fetch_file(f, data_dir, mirror, allow_download) for f in source.files}
                )
                break
            except _Unavailable as missing:
                tried.append(f"{source.label}: missing {missing}")
        else:
            raise DataError(
                f"{name}: no source could provide the raw files.\n  " + "\n  ".join(tried)
            )
    _record_verified(data_dir, origins)
    return origins


def verified_path(data_dir: str | os.PathLike) -> Path:
    """``data.verified.json`` beside ``data/``: every raw file that the last fetch verified,
    with its checksum (git-ignored; equal on every machine holding the same files)."""
    data_dir = Path(data_dir)
    return data_dir.with_name(f"{data_dir.name}.verified.json")


def _record_verified(data_dir: Path, origins: dict[str, str]) -> None:
    path = verified_path(data_dir)
    record = json.loads(path.read_text()) if path.is_file() else {}
    files = {f.path: f for sources in REGISTRY.values() for s in sources for f in s.files}
    record |= {name: {files[name].algorithm: files[name].checksum} for name in origins}
    record = {name: record[name] for name in sorted(record) if (data_dir / name).is_file()}
    with _atomic(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def _read_idx(path: Path) -> torch.Tensor:
    """A gzipped idx file of unsigned bytes (the MNIST family's format) as a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path}: not an idx file of unsigned bytes")
    header = 4 + 4 * raw[3]
    shape = struct.unpack(f">{raw[3]}I", raw[4:header])
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(shape)


def _decode_fashion_mnist(paths: list[Path]) -> dict:
    train_x, train_y, test_x, test_y = (_read_idx(path) for path in paths)
    return {
        "train_x": train_x,
        "train_y": train_y.long(),
        "test_x": test_x,
        "test_y": test_y.long(),
        "classes": list(FashionMNIST.classes),
    }


def _decode_cifar10_official(paths: list[Path]) -> dict:
    """The python pickles of ``cifar-10-python.tar.gz``: 5 training batches and 1 test batch."""
    with tarfile.open(paths[0]) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

        def batch(name: str) -> dict:
            return pickle.load(tar.extractfile(members[name]), encoding="latin1")

        def split(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            batches = [batch(name) for name in names]
            x = torch.cat([torch.from_numpy(b["data"]) for b in batches])
            return x.reshape(-1, 3, 32, 32), torch.tensor([y for b in batches for y in b["labels"]])

        train_x, train_y = split([f"data_batch_{i}" for i in range(1, 6)])
        test_x, test_y = split(["test_batch"])
        classes = batch("batches.meta")["label_names"]
    return {
        "train_x": train_x,
        "train_y": train_y,
        "test_x": test_x,
        "test_y": test_y,
        "classes": classes,
    }


def _decode_cifar10_jpeg(paths: list[Path]) -> dict:
    """``train|test/<class>/<name>.jpg``, ordered by class index then file name."""
    label = {name: i for i, name in enumerate(CIFAR10_CLASSES)}
    splits: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(paths[0]) as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if len(parts) != 3 or parts[0] not in splits or parts[1] not in label:
                raise DataError(f"{paths[0]}: unexpected member {member.name}")
            data = bytearray(tar.extractfile(member).read())
            splits[parts[0]].append((label[parts[1]], parts[2], data))
    out = {}
    for split, items in splits.items():
        items.sort(key=lambda item: item[:2])
        images = decode_jpeg(
            [torch.frombuffer(data, dtype=torch.uint8) for *_, data in items],
            mode=ImageReadMode.RGB,
        )
        out[f"{split}_x"] = torch.stack(images)
        out[f"{split}_y"] = torch.tensor([y for y, *_ in items], dtype=torch.int64)
    return out | {"classes": list(CIFAR10_CLASSES)}


DECODERS = {
    ("fashion_mnist", "official"): _decode_fashion_mnist,
    ("cifar10", "official"): _decode_cifar10_official,
    ("cifar10", "jpeg-reencoding"): _decode_cifar10_jpeg,
}


def prepare(
    data_dir: str | os.PathLike = "data",
    out_dir: str | os.PathLike = "prepared",
    datasets: Sequence[str] = DATASETS,
) -> dict:
    """Decode the raw files of ``datasets`` into ``out_dir/<dataset>.pt`` once.

    Each ``.pt`` holds ``train_x``/``test_x`` (uint8, N×28×28 or N×3×32×32), ``train_y``/
    ``test_y`` (int64), ``classes``, ``source`` and ``source_label``. The first source (in
    order of preference) whose files are all in ``data_dir`` is used, after verifying them.
    ``out_dir/manifest.json`` gets, per dataset: source, label, file checksums and shapes.
    Returns the manifest; raises DataError.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    _check_names(datasets)
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for name in datasets:
        source = next(
            (s for s in REGISTRY[name] if all((data_dir / f.path).is_file() for f in s.files)), None
        )
        if source is None:
            wanted = " or ".join(", ".join(f.path for f in s.files) for s in REGISTRY[name])
            raise DataError(
                f"{name}: no raw files in {data_dir} (needs {wanted}); run `{FETCH_HINT}` first"
            )
        files = {
            f.path: {
                f.algorithm: _verify(
                    data_dir / f.path,
                    f,
                    str(data_dir / f.path),
                    f"delete it and re-run `{FETCH_HINT}`",
                )
            }
            for f in source.files
        }
        data = DECODERS[name, source.name]([data_dir / f.path for f in source.files])
        data |= {"source": source.name, "source_label": source.label}
        with _atomic(out_dir / f"{name}.pt") as tmp:
            torch.save(data, tmp)
        manifest[name] = {
            "source": source.name,
            "source_label": source.label,
            "files": files,
            "shapes": {
                key: list(value.shape)
                for key, value in data.items()
                if isinstance(value, torch.Tensor)
            },
        }
    with _atomic(manifest_path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_prepared(out_dir: str | os.PathLike, name: str) -> dict:
    """The dict that ``prepare`` wrote for dataset ``name``."""
    path = Path(out_dir) / f"{name}.pt"
    if not path.is_file():
        raise DataError(
            f"{path}: missing; run `dvc repro prepare` (or "
            f"`python -m fuse_repro.core.data prepare`) first"
        )
    return torch.load(path, weights_only=True)


def fingerprint(out_dir: str | os.PathLike, name: str) -> str:
    """The identity of dataset ``name`` as prepared: its source and raw-file checksums."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; run `dvc repro prepare` first")
    entry = json.loads(path.read_text())[name]
    return json.dumps({"source": entry["source"], "files": entry["files"]}, sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (1 with a message on a DataError)."""
    parser = argparse.ArgumentParser(
        prog="python -m fuse_repro.core.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_cmd = commands.add_parser("fetch", help="put the verified raw files under --data-dir")
    fetch_cmd.add_argument("--mirror", help=f"local mirror directory (default: ${MIRROR_ENV})")
    fetch_cmd.add_argument("--offline", action="store_true", help="never download")
    prepare_cmd = commands.add_parser("prepare", help="decode the raw files into tensors")
    prepare_cmd.add_argument("--out", default="prepared", help="output directory")
    for command in (fetch_cmd, prepare_cmd):
        command.add_argument("--data-dir", default="data", help="raw data directory")
        command.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            origins = fetch(args.data_dir, args.datasets, args.mirror, not args.offline)
            for path, origin in origins.items():
                print(f"{path}: {origin}")
        else:
            manifest = prepare(args.data_dir, args.out, args.datasets)
            for name in args.datasets:
                print(f"{name}: {manifest[name]['source_label']}, {manifest[name]['shapes']}")
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
