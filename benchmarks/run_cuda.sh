#!/usr/bin/env bash
# The GPU figures in one run, on a CUDA machine that has torch, torchvision and transformers but not clipgit
# installed (the project's GPU machine): the sources are put on the path under their installed names.
#   bash benchmarks/run_cuda.sh [ingest.py options]
set -u
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
mkdir -p /tmp/clipgit-src/clipgit
ln -sfn "$PWD/core" /tmp/clipgit-src/clipgit/core
export PYTHONPATH=/tmp/clipgit-src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision, transformers; print('torch', torch.__version__, 'torchvision', \
torchvision.__version__, 'transformers', transformers.__version__)"
python3 benchmarks/ingest.py --device cuda "$@"
