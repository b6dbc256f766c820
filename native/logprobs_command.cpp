// `logprobs`: the trainer's own forward pass on one token sequence, for comparison with llama.cpp.
#include "backend.h"
#include "commands.h"
#include "lora.h"

#include "ggml-alloc.h"

#include <cmath>
#include <sstream>

namespace arbor {

int cmd_logprobs(const Args & args) {
    args.expect_only({"model", "adapter", "tokens", "threads", "device", "backend-dir"});
    std::vector<int32_t> tokens;
    std::stringstream list(args.required("tokens"));
    for (std::string item; std::getline(list, item, ',');) {
        try {
            tokens.push_back(std::stoi(item));
        } catch (const std::exception &) {
            throw InputError("--tokens must be comma-separated token ids, got '" + item + "'");
        }
    }
    Backend be = init_backend(args.all("backend-dir"), args.str("device", "auto"), static_cast<int>(args.integer("threads", 1)));
    Model model;
    // Frozen: weights keep their stored type, as they do when an adapter is trained on them.
    load_model(model, args.required("model"), be.backend, /*frozen =*/ true);
    if (args.has("adapter")) add_lora(model, lora_options_of(args.required("adapter"), "--adapter"), 0, be.backend);
    const int T = static_cast<int>(tokens.size());
    const int64_t V = model.hp.n_vocab;
    if (T == 0 || T > model.hp.n_ctx) throw InputError("--tokens: between 1 and the model's context of " + std::to_string(model.hp.n_ctx) + " ids");
    for (int32_t t : tokens) {
        if (t < 0 || t >= V) throw InputError("--tokens: id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(V));
    }

    ggml_init_params ip = {ggml_tensor_overhead() * 8192 + ggml_graph_overhead_custom(8192, false), nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    const ForwardGraph fg = build_forward(ctx, model, T, 1, T, T);
    ggml_set_output(fg.logits);
    ggml_cgraph * graph = ggml_new_graph_custom(ctx, 8192, false);
    ggml_build_forward_expand(graph, fg.logits);
    ggml_gallocr_t alloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(be.backend));
    if (!ggml_gallocr_alloc_graph(alloc, graph)) throw std::runtime_error("cannot allocate the forward graph");
    ggml_backend_tensor_set(fg.in.tokens, tokens.data(), 0, T * sizeof(int32_t));
    set_attention_inputs(fg.in, T);
    std::vector<int32_t> rows(T);  // a logit row at every position
    for (int t = 0; t < T; t++) rows[t] = t;
    ggml_backend_tensor_set(fg.in.rows, rows.data(), 0, T * sizeof(int32_t));
    if (ggml_backend_graph_compute(be.backend, graph) != GGML_STATUS_SUCCESS) throw std::runtime_error("forward pass failed");
    std::vector<float> logits(static_cast<size_t>(V) * T);
    ggml_backend_tensor_get(fg.logits, logits.data(), 0, logits.size() * sizeof(float));

    // One row per position: log softmax over the vocabulary of the next-token logits.
    std::string json = "[";
    for (int t = 0; t < T; t++) {
        const float * row = &logits[static_cast<size_t>(t) * V];
        double mx = row[0];
        for (int64_t j = 1; j < V; j++) mx = std::max(mx, static_cast<double>(row[j]));
        double z = 0;
        for (int64_t j = 0; j < V; j++) z += std::exp(row[j] - mx);
        const double log_z = mx + std::log(z);
        json += t ? ",[" : "[";
        for (int64_t j = 0; j < V; j++) {
            char buf[32];
            snprintf(buf, sizeof(buf), j ? ",%.6g" : "%.6g", row[j] - log_z);
            json += buf;
        }
        json += "]";
    }
    json += "]";
    JsonLine("logprobs").integer("positions", T).integer("n_vocab", V).raw("logprobs", json).emit();
    ggml_gallocr_free(alloc);
    ggml_free(ctx);
    return EXIT_OK;
}

} // namespace arbor
