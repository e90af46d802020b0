#!/usr/bin/env bash
# The GPU measurements that issue #11's figures need, in one go, for a session lent a CUDA machine (whose
# time is short): the feed (what the run's own process delivers to a card that answers at once, and what
# starting 16 workers costs), then whole Engine.index runs at 640x480 and 12 MP beside every stage alone,
# with a variant whose GIL switch interval is 1 ms, and the vectors checked against the reference
# processor. Each log goes to $OUT (the device tool's folder that comes back), or /tmp/clipgit-gpu-round.
#   bash benchmarks/gpu_round.sh              (about 3-4 minutes on an H100)
set -u
out=${OUT:-/tmp/clipgit-gpu-round}
mkdir -p "$out"
cd "$(dirname "$0")/.."
quiet() { grep --line-buffered -v -e nvjpeg2k -e nvtiff -e nvJPEG2000 -e nvTIFF -e "Loading weights" -e "model shards"; }
bash benchmarks/run_cuda.sh feed.py --n 16384 --workers 16 --repeats 2 2>&1 | quiet | tee "$out/feed.log"
bash benchmarks/run_cuda.sh ingest.py --device cuda --sizes 640x480,4000x3000 --n 16384,2048 --decode-n 4096 \
  --decoders torchvision --read-modes auto --stages --variants 16:512,16:512:0.001 2>&1 | quiet | tee "$out/ingest.log"
