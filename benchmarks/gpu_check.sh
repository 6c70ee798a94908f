#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests of the fused step, the speed benchmarks on the GPU, and the Fig. 2
# grid trained on it (not part of the tests; what the speed issue's GPU numbers come from).
#
#   AEVB_DATA_DIR=/path/to/data bash benchmarks/gpu_check.sh [OUT_DIR] [BUDGET]
#
# Uses the python3 on the PATH with torch (CUDA), numpy, scipy and tqdm; the package from this checkout.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-check}
budget=${2:-1e6}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
echo "== CUDA tests of the fused step"
python3 -m pytest -q tests/test_fused.py -k cuda 2>&1 | tail -5
echo "== train_speed on cuda"
python3 benchmarks/train_speed.py --device cuda --repeats 10 --steps 100 --json "$out/train_speed_cuda.json"
echo "== grid_speed on cuda (K seeds stacked)"
python3 benchmarks/grid_speed.py --device cuda --k 1,4,16,64 --steps 100 --repeats 3
echo "== Fig. 2 grid to $budget samples per run on cuda, 6 runs at a time"
start=$(date +%s)
python3 -m aevb figure 2 --budget "$budget" --device cuda --workers 6 --threads 1 --results "$out/results"
echo "Fig. 2 grid to $budget on cuda: $(( $(date +%s) - start )) s wall time"
python3 - "$out/results" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/index.csv")))
for r in rows:
    print(f"{r['path']:45s} {int(r['samples']):>10,} samples {float(r['seconds']):7.1f} s  train {float(r['train']):9.2f}  test {float(r['test']):9.2f}")
EOF
