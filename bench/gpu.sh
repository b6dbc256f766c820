#!/usr/bin/env bash
# bench/gpu.sh: the GPU checks in one go, for a machine with one NVIDIA GPU (about 10 minutes):
# bench:scale with node-llama-cpp's CUDA build — a Qwen2.5-0.5B-shaped GGUF through one GSM8K
# iteration (search, PRM, LoRA training of both models on the GPU, evaluation) and search speed
# against llama-batched-bench-cuda on the same GGUF. Needs only the NVIDIA driver and what
# `npm install` brings (node-llama-cpp's CUDA libraries; the trainer loads them when it sees a GPU).
# Extra arguments go to bench/scale.ts. The RESULT line names the card in `gpu_name`.
set -euo pipefail
cd "$(dirname "$0")/.."
card="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)" ||
  { echo "bench/gpu.sh: no NVIDIA GPU here (nvidia-smi failed); bench:scale runs on the CPU without this script" >&2; exit 2; }
echo "GPU: $card"
[ -d node_modules ] || npm install --no-audit --no-fund
exec npx --no-install tsx bench/scale.ts --gpu cuda --threads "$(nproc)" --sequences 16 --problems 16 --steps 20 "$@"
