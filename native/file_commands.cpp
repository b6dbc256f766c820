// Commands that only read or write GGUF files: init, diff, quantize and merge.
#include "commands.h"
#include "lora.h"
#include "model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace arbor {

int cmd_init(const Args & args) {
    args.expect_only({"vocab-chars", "vocab-gguf", "tied", "out", "arch", "seed", "dim", "layers", "heads", "kv-heads", "ffn",
                      "ctx", "rope-base", "name"});
    if (args.has("vocab-chars") == args.has("vocab-gguf")) throw InputError("give one of --vocab-chars and --vocab-gguf");
    if (args.has("tied") && !args.str("tied").empty()) throw InputError("--tied takes no value");

    HParams hp;
    hp.arch = args.str("arch", "llama");
    hp.n_embd = static_cast<int>(args.integer("dim", 128));
    hp.n_layer = static_cast<int>(args.integer("layers", 4));
    hp.n_head = static_cast<int>(args.integer("heads", 4));
    hp.n_head_kv = static_cast<int>(args.integer("kv-heads", hp.n_head));
    hp.n_ff = static_cast<int>(args.integer("ffn", 3 * hp.n_embd));
    hp.n_ctx = static_cast<int>(args.integer("ctx", 256));
    hp.rope_base = static_cast<float>(args.number("rope-base", 10000.0));
    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0 || hp.n_ctx <= 0) {
        throw InputError("model dimensions must be positive");
    }
    if ((hp.n_embd / std::max(1, hp.n_head)) % 2 != 0) throw InputError("--dim / --heads must be even (rotary embedding)");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 1));
    const std::string out = args.required("out");
    const bool tied = args.has("tied");
    const std::string name = args.str("name", "arbor-micro");
    if (args.has("vocab-gguf")) {
        init_model_file_from_vocab(out, hp, args.required("vocab-gguf"), seed, name, tied);
    } else {
        const std::string vocab_path = args.required("vocab-chars");
        std::ifstream in(vocab_path, std::ios::binary);
        if (!in) throw InputError(vocab_path + ": cannot read the vocabulary file");
        std::stringstream chars;
        chars << in.rdbuf();
        init_model_file(out, hp, chars.str(), seed, name, tied);
    }
    JsonLine("init").str("out", out).integer("seed", static_cast<int64_t>(seed)).boolean("tied", tied).emit();
    return EXIT_OK;
}

int cmd_diff(const Args & args) {
    args.expect_only({});
    if (args.positional().size() != 2) throw InputError("diff needs two GGUF files");
    ggml_context * ctx[2] = {nullptr, nullptr};
    gguf_context * g[2];
    for (int i = 0; i < 2; i++) {
        gguf_init_params gp = {false, &ctx[i]};
        g[i] = gguf_init_from_file(args.positional()[i].c_str(), gp);
        if (!g[i]) throw InputError(args.positional()[i] + ": not a readable GGUF file");
    }
    double max_abs = 0;
    std::string worst;
    int64_t compared = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(g[0]); i++) {
        const char * name = gguf_get_tensor_name(g[0], i);
        ggml_tensor * a = ggml_get_tensor(ctx[0], name);
        ggml_tensor * b = ggml_get_tensor(ctx[1], name);
        if (!b || a->type != GGML_TYPE_F32 || b->type != GGML_TYPE_F32 || ggml_nelements(a) != ggml_nelements(b)) {
            throw InputError(std::string("tensor ") + name + " differs in presence, type or shape");
        }
        const float * pa = static_cast<const float *>(a->data);
        const float * pb = static_cast<const float *>(b->data);
        for (int64_t j = 0; j < ggml_nelements(a); j++) {
            const double d = std::fabs(static_cast<double>(pa[j]) - pb[j]);
            if (d > max_abs || std::isnan(d)) {
                max_abs = std::isnan(d) ? INFINITY : d;
                worst = name;
            }
        }
        compared++;
    }
    JsonLine("diff").integer("tensors", compared).num("max_abs_diff", max_abs).str("worst_tensor", worst).emit();
    for (int i = 0; i < 2; i++) {
        gguf_free(g[i]);
        ggml_free(ctx[i]);
    }
    return EXIT_OK;
}

namespace {

// A GGUF read whole into memory, freed with its tensors.
struct GgufFile {
    gguf_context * gguf = nullptr;
    ggml_context * tensors = nullptr;
    explicit GgufFile(const std::string & path, const std::string & flag) {
        gguf_init_params gp = {false, &tensors};
        gguf = gguf_init_from_file(path.c_str(), gp);
        if (!gguf) throw InputError(flag + ": " + path + ": not a readable GGUF file");
    }
    ~GgufFile() {
        gguf_free(gguf);
        ggml_free(tensors);
    }
    GgufFile(const GgufFile &) = delete;
    GgufFile & operator=(const GgufFile &) = delete;
};

std::vector<float> to_float(const ggml_tensor * t) {
    std::vector<float> out(ggml_nelements(t));
    if (t->type == GGML_TYPE_F32) {
        std::copy_n(static_cast<const float *>(t->data), out.size(), out.begin());
    } else {
        const auto * traits = ggml_get_type_traits(t->type);
        if (!traits->to_float) throw InputError(std::string("tensor ") + t->name + " has type " + ggml_type_name(t->type) + ", which ggml cannot widen");
        traits->to_float(t->data, out.data(), static_cast<int64_t>(out.size()));
    }
    return out;
}

// Adds `values` as tensor `name` of `type` (shape of `like`) to `out`, its data allocated in `host`.
void add_converted(gguf_context * out, ggml_context * host, const ggml_tensor * like, ggml_type type, const std::vector<float> & values) {
    ggml_tensor * t = ggml_new_tensor(host, type, ggml_n_dims(like), like->ne);
    ggml_set_name(t, like->name);
    if (type == GGML_TYPE_F32) {
        std::copy(values.begin(), values.end(), static_cast<float *>(t->data));
    } else {
        ggml_quantize_chunk(type, values.data(), t->data, 0, like->ne[1] * like->ne[2] * like->ne[3], like->ne[0], nullptr);
    }
    gguf_add_tensor(out, t);
}

size_t host_bytes(const ggml_context * tensors, const gguf_context * g) {
    size_t bytes = 1024;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const ggml_tensor * t = ggml_get_tensor(const_cast<ggml_context *>(tensors), gguf_get_tensor_name(g, i));
        bytes += ggml_nelements(t) * sizeof(float) + ggml_tensor_overhead() + 64;
    }
    return bytes;
}

} // namespace

QuantizeCounts quantize_model_file(const std::string & in_path, const std::string & out_path, const std::string & type_name) {
    // general.file_type values of llama.cpp's llama_ftype for each output type.
    const std::map<std::string, std::pair<ggml_type, int>> types = {
        {"f32", {GGML_TYPE_F32, 0}}, {"f16", {GGML_TYPE_F16, 1}}, {"bf16", {GGML_TYPE_BF16, 32}}, {"q8_0", {GGML_TYPE_Q8_0, 7}},
        {"q4_0", {GGML_TYPE_Q4_0, 2}}, {"q4_k", {GGML_TYPE_Q4_K, 15}}, {"q6_k", {GGML_TYPE_Q6_K, 18}}};
    const auto found = types.find(type_name);
    if (found == types.end()) throw InputError("--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, got '" + type_name + "'");
    const auto [type, file_type] = found->second;
    GgufFile in(in_path, "--model");
    gguf_context * out = gguf_init_empty();
    gguf_set_kv(out, in.gguf);
    gguf_set_val_u32(out, "general.file_type", static_cast<uint32_t>(file_type));
    ggml_init_params ip = {host_bytes(in.tensors, in.gguf), nullptr, false};
    ggml_context * host = ggml_init(ip);
    QuantizeCounts counts;
    for (int64_t i = 0; i < gguf_get_n_tensors(in.gguf); i++) {
        const ggml_tensor * t = ggml_get_tensor(in.tensors, gguf_get_tensor_name(in.gguf, i));
        // Matrices whose rows fill whole blocks are converted; norms, biases and odd shapes stay F32
        // (as llama.cpp's quantizer keeps 1-d tensors).
        const bool matrix = ggml_n_dims(t) == 2 && t->ne[0] % ggml_blck_size(type) == 0;
        add_converted(out, host, t, matrix ? type : GGML_TYPE_F32, to_float(t));
        (matrix ? counts.converted : counts.kept_f32)++;
    }
    write_gguf_atomic(out, out_path);
    gguf_free(out);
    ggml_free(host);
    return counts;
}

int cmd_quantize(const Args & args) {
    args.expect_only({"model", "out", "type"});
    const std::string in_path = args.required("model");
    const std::string out_path = args.required("out");
    if (out_path == in_path) throw InputError("--out must differ from --model");
    const std::string type_name = args.required("type");
    const QuantizeCounts counts = quantize_model_file(in_path, out_path, type_name);
    JsonLine("quantize").str("out", out_path).str("type", type_name).integer("converted", counts.converted)
        .integer("kept_f32", counts.kept_f32).emit();
    return EXIT_OK;
}

int cmd_merge(const Args & args) {
    args.expect_only({"model", "adapter", "out", "scale"});
    const std::string base_path = args.required("model");
    const std::string adapter_path = args.required("adapter");
    const std::string out_path = args.required("out");
    if (out_path == base_path || out_path == adapter_path) throw InputError("--out must differ from --model and --adapter");
    const double user_scale = args.number("scale", 1.0);
    GgufFile base(base_path, "--model");
    GgufFile adapter(adapter_path, "--adapter");
    const int64_t alpha_id = gguf_find_key(adapter.gguf, "adapter.lora.alpha");
    const int64_t type_id = gguf_find_key(adapter.gguf, "adapter.type");
    if (alpha_id < 0 || type_id < 0 || std::string(gguf_get_val_str(adapter.gguf, type_id)) != "lora") {
        throw InputError("--adapter: " + adapter_path + ": not a LoRA adapter (no adapter.type = lora, adapter.lora.alpha)");
    }
    const float alpha = gguf_get_val_f32(adapter.gguf, alpha_id);

    gguf_context * out = gguf_init_empty();
    gguf_set_kv(out, base.gguf);
    ggml_init_params ip = {host_bytes(base.tensors, base.gguf), nullptr, false};
    ggml_context * host = ggml_init(ip);
    int64_t merged = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(base.gguf); i++) {
        const ggml_tensor * w = ggml_get_tensor(base.tensors, gguf_get_tensor_name(base.gguf, i));
        const std::string name = w->name;
        const ggml_tensor * a = ggml_get_tensor(adapter.tensors, (name + ".lora_a").c_str());
        const ggml_tensor * b = ggml_get_tensor(adapter.tensors, (name + ".lora_b").c_str());
        if (!a && !b) {
            ggml_tensor * copy = ggml_dup_tensor(host, w);
            ggml_set_name(copy, w->name);
            memcpy(copy->data, w->data, ggml_nbytes(w));
            gguf_add_tensor(out, copy);
            continue;
        }
        const int64_t n_in = w->ne[0], n_out = w->ne[1];
        if (!a || !b || a->type != GGML_TYPE_F32 || b->type != GGML_TYPE_F32 || a->ne[0] != n_in || b->ne[1] != n_out || a->ne[1] != b->ne[0]) {
            throw InputError("--adapter: " + adapter_path + ": the pair for " + name + " does not fit the base weight's shape");
        }
        // W[o, i] += scale · Σ_k B[o, k]·A[k, i], with scale = user scale · alpha / rank as llama.cpp applies it.
        const int64_t rank = a->ne[1];
        const float scale = static_cast<float>(user_scale * alpha / static_cast<double>(rank));
        std::vector<float> values = to_float(w);
        const float * A = static_cast<const float *>(a->data);
        const float * B = static_cast<const float *>(b->data);
        for (int64_t o = 0; o < n_out; o++) {
            float * row = &values[o * n_in];
            for (int64_t k = 0; k < rank; k++) {
                const float f = scale * B[o * rank + k];
                const float * a_row = &A[k * n_in];
                for (int64_t j = 0; j < n_in; j++) row[j] += f * a_row[j];
            }
        }
        add_converted(out, host, w, GGML_TYPE_F32, values);  // merged weights are F32: exact, quantize again if wanted
        merged++;
    }
    if (2 * merged != gguf_get_n_tensors(adapter.gguf)) {
        throw InputError("--adapter: " + adapter_path + " adapts tensors that " + base_path + " does not have");
    }
    gguf_set_val_str(out, "arbor.merged_adapter", adapter_path.c_str());
    write_gguf_atomic(out, out_path);
    gguf_free(out);
    ggml_free(host);
    JsonLine("merge").str("out", out_path).integer("merged", merged).emit();
    return EXIT_OK;
}

} // namespace arbor
