#!/usr/bin/env bash
# Builds one of llama.cpp's own tools offline for the benches that measure Arbor against it:
#   finetune       examples/training/finetune.cpp  → native/build/llama-finetune       (bench/trainer.ts)
#   batched-bench  tools/batched-bench/*.cpp       → native/build/llama-batched-bench  (bench/scale.ts)
# A second argument `cuda` links node-llama-cpp's CUDA build instead (→ native/build/llama-<tool>-cuda).
# Only the tool's own sources are compiled, from node-llama-cpp's bundled llama.cpp source (the
# commit node-llama-cpp runs), and linked against the prebuilt libraries node-llama-cpp ships (the
# same ones Arbor's engine and trainer use), so both sides run the same ggml code. Idempotent.
set -euo pipefail

TOOL="${1:-}"
case "$TOOL" in
  finetune) SOURCES=(examples/training/finetune.cpp) ;;
  batched-bench) SOURCES=(tools/batched-bench/batched-bench.cpp tools/batched-bench/main.cpp) ;;
  *) echo "usage: bench/build-llama-tool.sh finetune|batched-bench [cuda] (got '${TOOL}')" >&2; exit 2 ;;
esac
VARIANT="${2:-cpu}"
case "$VARIANT" in
  cpu) SUFFIX="" ; LIB="" ;;
  cuda) SUFFIX="-cuda" ; LIB=".cuda" ;;
  *) echo "usage: bench/build-llama-tool.sh finetune|batched-bench [cuda] (got variant '${VARIANT}')" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/native/build"
PLATFORM="$(node -p 'process.platform + "-" + process.arch')"
BIN="$ROOT/node_modules/@node-llama-cpp/$PLATFORM$SUFFIX/bins/$PLATFORM$SUFFIX"
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
OUT="$BUILD/llama-$TOOL$SUFFIX"

if [[ -x "$OUT" ]]; then
  echo "build-llama-tool: $OUT already built"
  exit 0
fi

for lib in "libllama$LIB.v0.5.0.so" "libggml$LIB.v0.5.0.so" libggml-base.so libllama-common.so; do
  [[ -f "$BIN/$lib" ]] || { echo "build-llama-tool: missing prebuilt $BIN/$lib" >&2; exit 1; }
done

# Reuse the source native/build.sh extracted; otherwise clone our own copy so we never race it.
if [[ -f "$BUILD/llama.cpp/${SOURCES[0]}" ]]; then
  SRC="$BUILD/llama.cpp"
else
  SRC="$BUILD/llama.cpp-bench"
  if [[ ! -f "$SRC/${SOURCES[0]}" ]]; then
    mkdir -p "$BUILD"
    rm -rf "$SRC"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
  fi
fi

start=$SECONDS
# The prebuilt libllama-common exports the common_* functions the tools use
# (common_params_parse, common_init_from_params, ...), so no CMake build.
g++ -std=c++17 -O2 -o "$OUT.tmp" "${SOURCES[@]/#/$SRC/}" \
  -I"$SRC/common" -I"$SRC/include" -I"$SRC/ggml/include" -I"$SRC/$(dirname "${SOURCES[0]}")" \
  -L"$BIN" -l:libllama-common.so -l:"libllama$LIB.v0.5.0.so" -l:"libggml$LIB.v0.5.0.so" -lggml-base -pthread \
  -Wl,-rpath,"$BIN"
mv "$OUT.tmp" "$OUT"
echo "build-llama-tool: built $OUT from $SRC in $((SECONDS - start)) s"
