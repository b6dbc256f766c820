#!/usr/bin/env bash
# Builds llama.cpp's `llama-finetune` (examples/training/finetune.cpp) offline for bench/trainer.ts:
# only finetune.cpp is compiled, from node-llama-cpp's bundled llama.cpp source, and linked against
# the prebuilt libraries node-llama-cpp ships (the same ones Arbor's trainer links), so both trainers
# run the same ggml code. Output: native/build/llama-finetune. Idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/native/build"
PLATFORM="$(node -p 'process.platform + "-" + process.arch')"
BIN="$ROOT/node_modules/@node-llama-cpp/$PLATFORM/bins/$PLATFORM"
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
OUT="$BUILD/llama-finetune"

if [[ -x "$OUT" ]]; then
  echo "build-finetune: $OUT already built"
  exit 0
fi

for lib in libllama.v0.5.0.so libggml.v0.5.0.so libggml-base.so libllama-common.so; do
  [[ -f "$BIN/$lib" ]] || { echo "build-finetune: missing prebuilt $BIN/$lib" >&2; exit 1; }
done

# Reuse the source native/build.sh extracted; otherwise clone our own copy so we never race it.
if [[ -f "$BUILD/llama.cpp/examples/training/finetune.cpp" ]]; then
  SRC="$BUILD/llama.cpp"
else
  SRC="$BUILD/llama.cpp-bench"
  if [[ ! -f "$SRC/examples/training/finetune.cpp" ]]; then
    mkdir -p "$BUILD"
    rm -rf "$SRC"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
  fi
fi

start=$SECONDS
# The prebuilt libllama-common exports the common_* functions finetune.cpp uses
# (common_params_parse, common_init_from_params, common_opt_dataset_init, ...), so no CMake build.
g++ -std=c++17 -O2 -o "$OUT.tmp" "$SRC/examples/training/finetune.cpp" \
  -I"$SRC/common" -I"$SRC/include" -I"$SRC/ggml/include" \
  -L"$BIN" -l:libllama-common.so -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -lggml-base -pthread \
  -Wl,-rpath,"$BIN"
mv "$OUT.tmp" "$OUT"
echo "build-finetune: built $OUT from $SRC in $((SECONDS - start)) s"
