#!/usr/bin/env bash
# The distributed training path on a CUDA machine (nccl): torchrun with one process per GPU, bf16 autocast,
# torch.compile, resume; then `bench train`. Prints one JSON line per run. Usage: bash scripts/gpu_train_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
N=$($PY -c "import torch; print(torch.cuda.device_count())")
T=$(mktemp -d)
run() { $PY -m torch.distributed.run --standalone --nproc-per-node="$N" -m engines train "$@" --json 2>"$T/err" | tail -1 \
        || { echo "FAILED: $*"; tail -5 "$T/err"; }; }
echo "gpus: $N"
run draw --steps 40 --logdir "$T/a"
run draw --steps 40 --bf16 --logdir "$T/b"
run draw --steps 40 --compile --logdir "$T/c"
run docnade --steps 40 --eval-every 20 --out "$T/d.pt" --logdir "$T/d"
run docnade --steps 60 --eval-every 20 --out "$T/d.pt" --resume "$T/d.pt" --logdir "$T/e"
run sentences --preset vae-annealed --steps 40 --logdir "$T/f"
run wavenet --steps 40 --logdir "$T/g"
$PY -m engines bench train --json
