// `gemm`: FLOP/s of ggml's own F32 matrix multiply on this backend (the reference for model FLOP
// utilisation), or with --as-trained of the multiply the trainer's graph uses (OpenBLAS on a CPU).
#include "backend.h"
#include "commands.h"
#include "cpu_gemm.h"

#include "ggml-alloc.h"

#include <chrono>
#include <vector>

namespace arbor {

int cmd_gemm(const Args & args) {
    args.expect_only({"m", "n", "k", "repeat", "threads", "device", "backend-dir", "as-trained"});
    const int64_t m = args.integer("m", 1024), n = args.integer("n", 1024), k = args.integer("k", 1024);
    const int repeat = static_cast<int>(args.integer("repeat", 10));
    if (m <= 0 || n <= 0 || k <= 0 || repeat <= 0) throw InputError("--m, --n, --k and --repeat must be positive");
    Backend be = init_backend(args.all("backend-dir"), args.str("device", "auto"), static_cast<int>(args.integer("threads", 1)));
    ggml_init_params ip = {ggml_tensor_overhead() * 8 + 2 * ggml_graph_overhead(), nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * a = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, m);
    ggml_tensor * b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, n);
    ggml_tensor * c = ggml_mul_mat(ctx, a, b);
    ggml_cgraph * graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, c);
    // --as-trained: the product as the trainer computes it on this backend (OpenBLAS on a CPU that has it).
    const bool as_trained = args.has("as-trained");
    if (as_trained && !be.is_gpu) graph = products_as_gemm(ctx, graph, {&c});
    ggml_gallocr_t alloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(be.backend));
    if (!ggml_gallocr_alloc_graph(alloc, graph)) throw std::runtime_error("cannot allocate the gemm graph");
    Rng rng(1);
    for (ggml_tensor * t : {a, b}) {
        std::vector<float> values(ggml_nelements(t));
        for (float & v : values) v = rng.normal();
        ggml_backend_tensor_set(t, values.data(), 0, ggml_nbytes(t));
    }
    ggml_backend_graph_compute(be.backend, graph);  // warm-up
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeat; i++) {
        if (ggml_backend_graph_compute(be.backend, graph) != GGML_STATUS_SUCCESS) throw std::runtime_error("gemm failed");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * m * n * k * repeat / seconds;
    JsonLine("gemm").str("device", be.device_name).str("multiply", as_trained && !be.is_gpu ? cpu_gemm_name() : "ggml")
        .integer("threads", be.threads).integer("m", m).integer("n", n)
        .integer("k", k).num("gflop_s", flops / 1e9).emit();
    ggml_gallocr_free(alloc);
    ggml_free(ctx);
    ggml_backend_free(be.backend);
    return EXIT_OK;
}

} // namespace arbor
