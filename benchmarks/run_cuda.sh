#!/usr/bin/env bash
# The GPU figures, on a CUDA machine that has torch, torchvision and transformers but not clipgit installed
# (the project's GPU machine): wheels carried in .whl/ (platformdirs; optionally nvImageCodec and its nvJPEG)
# are installed beside them, and the sources are put on the path under their installed names.
#   bash benchmarks/run_cuda.sh [SCRIPT.py [options]]     (default: ingest.py --device cuda)
set -u
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
  rm -f /tmp/site/nvidia/__init__.py  # keep `nvidia` a namespace: torch's CUDA libraries live under it too
  [ -d /tmp/site/nvidia/cu13/lib ] && export LD_LIBRARY_PATH=/tmp/site/nvidia/cu13/lib:${LD_LIBRARY_PATH:-}
fi
mkdir -p /tmp/clipgit-src/clipgit
ln -sfn "$PWD/core" /tmp/clipgit-src/clipgit/core
export PYTHONPATH=/tmp/clipgit-src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision, transformers; print('torch', torch.__version__, 'torchvision', \
torchvision.__version__, 'transformers', transformers.__version__)"
python3 -c "from nvidia import nvimgcodec; print('nvimgcodec', nvimgcodec.__version__)" 2>&1 | tail -1
if [ $# -eq 0 ]; then set -- ingest.py --device cuda; fi
script=$1
shift
cd benchmarks && python3 "$script" "$@"
