#include "cpu_gemm.h"

#include <unordered_map>

#ifdef ARBOR_BLAS
#include <cblas.h>
#endif

namespace arbor {

namespace {

// One operand of C(m, n) = Σ_k X(k, m)·Y(k, n), as element strides (in floats) along k and along m or n.
struct Operand {
    const float * data;
    int64_t k_stride, other_stride;
};

#ifdef ARBOR_BLAS

enum Product { MUL_MAT, OUT_PROD };
const Product kMulMat = MUL_MAT;
const Product kOutProd = OUT_PROD;

// Element strides along dimensions 0 and 1 of a (view of a) F32 tensor.
int64_t stride(const ggml_tensor * t, int dim) { return static_cast<int64_t>(t->nb[dim] / sizeof(float)); }

bool blas_readable(const ggml_tensor * t) {
    return t->type == GGML_TYPE_F32 && t->nb[0] % sizeof(float) == 0 && t->nb[1] % sizeof(float) == 0 &&
           (t->nb[0] == sizeof(float) || t->nb[1] == sizeof(float));
}

// Row-major SGEMM for one batch and the columns [n0, n1): C is M×N (column n at n·ldc) = Xᵀ·Y.
// cblas sees it as Cᵀ (N rows of M) = Yᵀ (N×K) · X (K×M).
void sgemm(const Operand & x, const Operand & y, float * c, int64_t ldc, int64_t M, int64_t K, int64_t n0, int64_t n1) {
    if (n1 <= n0) return;
    const float * yp = y.data + n0 * y.other_stride;
    // Yᵀ: row n, column k at n·other + k·k_stride.
    const bool y_rows = y.k_stride == 1 || K == 1;
    const CBLAS_TRANSPOSE ty = y_rows ? CblasNoTrans : CblasTrans;
    const int64_t ldy = y_rows ? y.other_stride : y.k_stride;
    // X: row k, column m at k·k_stride + m·other.
    const bool x_rows = x.other_stride == 1 || M == 1;
    const CBLAS_TRANSPOSE tx = x_rows ? CblasNoTrans : CblasTrans;
    const int64_t ldx = x_rows ? x.k_stride : x.other_stride;
    cblas_sgemm(CblasRowMajor, ty, tx, static_cast<int>(n1 - n0), static_cast<int>(M), static_cast<int>(K), 1.0f, yp,
                static_cast<int>(std::max<int64_t>(ldy, 1)), x.data, static_cast<int>(std::max<int64_t>(ldx, 1)), 0.0f,
                c + n0 * ldc, static_cast<int>(ldc));
}

// dst = mul_mat(a, b) or out_prod(a, b), batch dimensions broadcast as ggml does; threads split
// batches, or columns when there are fewer batches than threads.
void blas_product(ggml_tensor * dst, int ith, int nth, void * userdata) {
    const Product kind = *static_cast<const Product *>(userdata);
    const ggml_tensor * a = dst->src[0];
    const ggml_tensor * b = dst->src[1];
    const int64_t M = dst->ne[0], N = dst->ne[1];
    // mul_mat: X(k, m) = a[k, m], Y(k, n) = b[k, n]. out_prod: X(k, m) = a[m, k], Y(k, n) = b[n, k].
    const int kd = kind == MUL_MAT ? 0 : 1, od = 1 - kd;
    const int64_t K = a->ne[kd];
    const int64_t batches = dst->ne[2] * dst->ne[3];
    const int64_t chunks = batches >= nth ? 1 : (nth + batches - 1) / batches;
    const int64_t per_chunk = (N + chunks - 1) / chunks;
    for (int64_t unit = ith; unit < batches * chunks; unit += nth) {
        const int64_t batch = unit / chunks, chunk = unit % chunks;
        const int64_t i2 = batch % dst->ne[2], i3 = batch / dst->ne[2];
        const int64_t a2 = i2 / (dst->ne[2] / a->ne[2]), a3 = i3 / (dst->ne[3] / a->ne[3]);
        const auto * ab = reinterpret_cast<const char *>(a->data) + a2 * a->nb[2] + a3 * a->nb[3];
        const auto * bb = reinterpret_cast<const char *>(b->data) + i2 * b->nb[2] + i3 * b->nb[3];
        auto * cb = reinterpret_cast<char *>(dst->data) + i2 * dst->nb[2] + i3 * dst->nb[3];
        const Operand x{reinterpret_cast<const float *>(ab), stride(a, kd), stride(a, od)};
        const Operand y{reinterpret_cast<const float *>(bb), stride(b, kd), stride(b, od)};
        sgemm(x, y, reinterpret_cast<float *>(cb), stride(dst, 1), M, K, chunk * per_chunk, std::min(N, (chunk + 1) * per_chunk));
    }
}

ggml_tensor * readable(ggml_context * ctx, ggml_tensor * t) { return blas_readable(t) ? t : ggml_cont(ctx, t); }

ggml_tensor * rewrite(ggml_context * ctx, ggml_tensor * node) {
    const bool product = node->op == GGML_OP_MUL_MAT || node->op == GGML_OP_OUT_PROD;
    if (!product || node->type != GGML_TYPE_F32 || node->src[0]->type != GGML_TYPE_F32 || node->src[1]->type != GGML_TYPE_F32) {
        return nullptr;
    }
    ggml_tensor * args[2] = {readable(ctx, node->src[0]), readable(ctx, node->src[1])};
    const void * kind = node->op == GGML_OP_MUL_MAT ? &kMulMat : &kOutProd;
    return ggml_custom_4d(ctx, GGML_TYPE_F32, node->ne[0], node->ne[1], node->ne[2], node->ne[3], args, 2, blas_product,
                          GGML_N_TASKS_MAX, const_cast<void *>(kind));
}

#else

// out_prod(a, b)[i, j] = Σ_k a[i, k]·b[j, k] = mul_mat(aᵀ, bᵀ)[i, j]; batch dimensions broadcast alike.
ggml_tensor * rewrite(ggml_context * ctx, ggml_tensor * node) {
    if (node->op != GGML_OP_OUT_PROD || node->ne[3] != 1 || node->src[0]->ne[3] != 1 || node->src[1]->ne[3] != 1) return nullptr;
    ggml_tensor * at = ggml_transpose(ctx, node->src[0]);
    ggml_tensor * bt = ggml_transpose(ctx, node->src[1]);
    // A transposed view of a single row or column counts as contiguous but not as untransposed.
    if (!ggml_is_contiguous(at) || ggml_is_transposed(at)) at = ggml_cont(ctx, at);
    if (!ggml_is_contiguous(bt) || ggml_is_transposed(bt)) bt = ggml_cont(ctx, bt);
    return ggml_mul_mat(ctx, at, bt);
}

#endif

} // namespace

ggml_cgraph * products_as_gemm(ggml_context * ctx, ggml_cgraph * graph, const std::vector<ggml_tensor **> & track) {
#ifdef ARBOR_BLAS
    openblas_set_num_threads(1);  // ggml's thread pool splits the work
#endif
    std::unordered_map<const ggml_tensor *, ggml_tensor *> replaced;
    std::vector<ggml_tensor *> order;
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        ggml_tensor * node = ggml_graph_node(graph, i);
        for (auto & src : node->src) {
            auto it = src ? replaced.find(src) : replaced.end();
            if (it != replaced.end()) src = it->second;
        }
        if (node->view_src) {
            auto it = replaced.find(node->view_src);
            if (it != replaced.end()) node->view_src = it->second;  // same shape and layout
        }
        ggml_tensor * product = rewrite(ctx, node);
        if (!product) {
            order.push_back(node);
            continue;
        }
        ggml_set_name(product, node->name);
        if (node->flags & GGML_TENSOR_FLAG_OUTPUT) ggml_set_output(product);
        replaced[node] = product;
        order.push_back(product);
    }
    for (ggml_tensor ** t : track) {
        auto it = replaced.find(*t);
        if (it != replaced.end()) *t = it->second;
    }
    ggml_cgraph * out = ggml_new_graph_custom(ctx, ggml_graph_size(graph), false);
    for (ggml_tensor * t : order) ggml_build_forward_expand(out, t);
    return out;
}

std::string cpu_gemm_name() {
#ifdef ARBOR_BLAS
    return std::string("openblas (") + openblas_get_corename() + ")";
#else
    return "ggml";
#endif
}

} // namespace arbor
