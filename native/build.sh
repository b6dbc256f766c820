#!/usr/bin/env bash
# Builds native/build/arbor-trainer against node-llama-cpp's prebuilt ggml libraries, with headers taken
# from the llama.cpp source node-llama-cpp bundles (git bundle, offline). Run by `npm install`.
# `native/build.sh --check` says whether a build is due (exit 1) and why, without building.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=native/build
mkdir -p "$out"

platform=$(node -p 'process.platform + "-" + process.arch')
bin_dir="$root/node_modules/@node-llama-cpp/$platform/bins/$platform"
bundle="$root/node_modules/node-llama-cpp/llama/gitRelease.bundle"
[ -f "$bin_dir/libggml-base.so" ] || { echo "native/build.sh: no prebuilt ggml libraries in $bin_dir (is node-llama-cpp installed?)" >&2; exit 1; }
[ -f "$bundle" ] || { echo "native/build.sh: missing $bundle (is node-llama-cpp installed?)" >&2; exit 1; }

src="$out/llama.cpp"
if [ ! -f "$src/ggml/include/ggml.h" ]; then
  command -v git >/dev/null || { echo "native/build.sh: git is needed to read node-llama-cpp's source bundle" >&2; exit 1; }
  rm -rf "$src"
  git clone -q "$bundle" "$src" 2>/dev/null
fi

# What the binary links besides the sources: OpenBLAS (Debian: libopenblas-dev; the CPU trainer's
# matrix products run about 2.5x faster than ggml's own) and node-llama-cpp's CUDA library. A change
# of either (OpenBLAS installed after the first npm install, say) rebuilds, like a changed source.
if pkg-config --exists openblas 2>/dev/null; then
  blas="openblas $(pkg-config --modversion openblas)"
else
  blas="none"
fi
cuda_lib="$root/node_modules/@node-llama-cpp/$platform-cuda/bins/$platform-cuda/libggml-cuda.so"
[ -f "$cuda_lib" ] || cuda_lib=""
build_key="blas: $blas; cuda: ${cuda_lib:-none}; ggml: $bin_dir"

binary="$out/arbor-trainer"
key_file="$out/arbor-trainer.build"
if [ ! -x "$binary" ]; then
  stale="no $binary yet"
elif [ "$(cat "$key_file" 2>/dev/null)" != "$build_key" ]; then
  stale="it was built with ($(cat "$key_file" 2>/dev/null || echo 'unknown'))"
elif [ -n "$(find native -maxdepth 1 \( -name '*.cpp' -o -name '*.h' -o -name build.sh \) -newer "$binary")" ]; then
  stale="a source changed"
else
  stale=""
fi
if [ -z "$stale" ]; then
  echo "native/build.sh: $binary is up to date ($build_key)"
  exit 0
fi
# --check: say whether a build is due (exit 1) without building.
if [ "${1:-}" = "--check" ]; then
  echo "native/build.sh: would rebuild $binary ($build_key): $stale"
  exit 1
fi

echo "native/build.sh: compiling arbor-trainer ($build_key)"
flags=(-std=c++17 -O2 -Wall -Wextra -Wno-unused-parameter -I"$src/ggml/include" -DARBOR_GGML_BIN_DIR="\"$bin_dir\"" -DARBOR_BUILD="\"$build_key\"")
if [ "$blas" != "none" ]; then
  flags+=(-DARBOR_BLAS $(pkg-config --cflags openblas))
  blas_libs=($(pkg-config --libs openblas))
else
  echo "native/build.sh: OpenBLAS not found (apt install libopenblas-dev, then npm run build:native): CPU training will use ggml's slower matrix multiply" >&2
  blas_libs=()
fi
[ -n "$cuda_lib" ] && flags+=(-DARBOR_GGML_CUDA_LIB="\"$cuda_lib\"")
objs=()
pids=()
for f in native/*.cpp; do
  o="$out/$(basename "${f%.cpp}").o"
  objs+=("$o")
  g++ "${flags[@]}" -c "$f" -o "$o" & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
g++ "${objs[@]}" -o "$binary.tmp" -L"$bin_dir" -l:libggml.v0.5.0.so -lggml-base -Wl,-rpath,"$bin_dir" "${blas_libs[@]}" -lpthread
mv "$binary.tmp" "$binary"
echo "$build_key" > "$key_file"
echo "native/build.sh: built $binary"
