# The two commands of the README:
#   make reproduce   environment (if missing) + data (verified) + dvc repro
#   make test        environment (if missing) + lint (ruff) + the test suite
#   make lab         JupyterLab at the repository root, kernel "Python (fuse-repro)"
#   make train EXPERIMENT=fashion_mnist|cifar10|toy|toy_finite_sum|pinn   the paper-scale runs still missing
#                    (resumable; then dvc repro), for the results of record
# Data source for `make data`: MIRROR=DIR or $FUSE_DATA_MIRROR (a local copy laid out as
# ../shared/datasets), else the official downloads through torchvision.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
MIRROR ?= $(FUSE_DATA_MIRROR)
export PATH := $(BIN):$(PATH)

.PHONY: env data reproduce train test lab

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade-strategy only-if-needed \
		-r requirements.txt -c requirements-lock.txt
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name fuse-repro \
		--display-name "Python (fuse-repro)"
	touch $@

# fetch verifies every raw file (and replaces a damaged one); only then is data/ hashed
# into DVC's cache (data.dvc is frozen: `dvc repro` never hashes data/ itself)
data: env
	$(BIN)/python -m fuse_repro.core.data fetch --data-dir data $(if $(MIRROR),--mirror $(MIRROR))
	$(BIN)/dvc commit --force --quiet data.dvc

reproduce: data
	$(BIN)/python -m fuse_repro.params params.yaml
	$(BIN)/dvc repro

train: data
	$(if $(EXPERIMENT),,$(error name the experiment: make train EXPERIMENT=fashion_mnist))
	$(BIN)/python -m fuse_repro.params params.yaml
	$(BIN)/dvc repro prepare
	$(BIN)/python -m fuse_repro.train $(EXPERIMENT) --scale paper
	$(BIN)/dvc repro image_paper toy_paper report_paper

test: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lab: env  # (as root, e.g. in a container, Jupyter needs --allow-root)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)
