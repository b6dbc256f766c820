// Matrix products of a training graph on the CPU backend, rewritten for speed after autodiff.
#pragma once

#include "ggml.h"

#include <string>
#include <vector>

namespace arbor {

// Returns `graph` with its matrix products rewritten: with OpenBLAS (at build time) every F32
// MUL_MAT and OUT_PROD (the weight gradients) runs as SGEMM with strided operands read in place
// (no transpose copies); without it, OUT_PRODs become ggml MUL_MATs over transposed copies (ggml's
// GEMM beats its row-by-row outer product). Every pointer in `track` that named a replaced node is
// updated to its replacement.
ggml_cgraph * products_as_gemm(ggml_context * ctx, ggml_cgraph * graph, const std::vector<ggml_tensor **> & track);

// "openblas (<core>)" or "ggml": the CPU matrix multiply in use.
std::string cpu_gemm_name();

} // namespace arbor
