#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (CI has no GPU): the CUDA tests, the
# training benchmark at 38k x 3k x 19 batches (fp32, tf32, bf16), default-fit wall time and
# one epoch on a million cells, the uncertainty outputs' time, the time to a correct result
# at 38k cells. Results land in $OUT (default gpu_out/).
#
# That machine has torch but not anndata/scanpy and cannot download; carry their wheels in
# .whl/ (see docs/benchmarks.md, "GPU") and they are installed into /tmp/site first.
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/python:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, medl; print('torch', torch.__version__, torch.cuda.get_device_name())"

echo "== CUDA tests"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tail -15

B="--cells 38000 --genes 3000 --batches 19 --density 0.05 --epochs 20 --patience 100"
echo "== 38k x 3k x 19 batches, 20 epochs, fp32"
timeout 120 python3 bench/bench.py $B --parts fe re full --json "$OUT/bench_38k_fp32.json"
for p in tf32 bf16; do
  echo "== same, $p"
  timeout 50 python3 bench/bench.py $B --parts full --precision $p --json "$OUT/bench_38k_$p.json"
done

echo "== default fit (fit_medl, every default) wall time"
timeout 130 python3 bench/default_fit.py --cells 500 2000 10000 --device cuda \
  --json "$OUT/default_fit.json"

echo "== one epoch, 1,000,000 x 3,000, 19 batches (sparse on device)"
timeout 90 python3 bench/bench.py --cells 1000000 --genes 3000 --batches 19 --density 0.05 \
  --epochs 1 --parts full --json "$OUT/bench_1m.json"

echo "== uncertainty outputs after a default fit: batch_effects, 100 sampled counterfactuals"
timeout 200 python3 bench/effects_time.py --sizes 10000x2000 38000x3000 --device cuda \
  --json "$OUT/effects_time.json"

echo "== time to a correct result: defaults, 38k x 3k x 19 batches (fit to the end of training)"
timeout 240 python3 bench/time_to_result.py --sizes 38000x3000x19 --no-kang --models medl \
  --out "$OUT/time_to_result.md" --json "$OUT/time_to_result.json"
