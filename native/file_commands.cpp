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
    const GgufReader a(args.positional()[0], "diff"), b(args.positional()[1], "diff");
    double max_abs = 0;
    std::string worst;
    for (int64_t i = 0; i < a.n_tensors(); i++) {
        const ggml_tensor * ta = a.tensor(i);
        const ggml_tensor * tb = b.find(ta->name);
        if (!tb || ta->type != GGML_TYPE_F32 || tb->type != GGML_TYPE_F32 || ggml_nelements(ta) != ggml_nelements(tb)) {
            throw InputError(std::string("tensor ") + ta->name + " differs in presence, type or shape");
        }
        const std::vector<float> va = a.read_floats(ta), vb = b.read_floats(tb);
        for (size_t j = 0; j < va.size(); j++) {
            const double d = std::fabs(static_cast<double>(va[j]) - vb[j]);
            if (d > max_abs || std::isnan(d)) {
                max_abs = std::isnan(d) ? INFINITY : d;
                worst = ta->name;
            }
        }
    }
    JsonLine("diff").integer("tensors", a.n_tensors()).num("max_abs_diff", max_abs).str("worst_tensor", worst).emit();
    return EXIT_OK;
}

namespace {

// Tensor infos (no data) of a converted file: names and shapes of `like`, types chosen per tensor.
struct OutputTensors {
    ggml_context * meta = nullptr;
    std::vector<const ggml_tensor *> list;
    explicit OutputTensors(int64_t n) {
        ggml_init_params ip = {ggml_tensor_overhead() * static_cast<size_t>(n + 1), nullptr, /*no_alloc =*/ true};
        meta = ggml_init(ip);
    }
    ~OutputTensors() { ggml_free(meta); }
    OutputTensors(const OutputTensors &) = delete;
    OutputTensors & operator=(const OutputTensors &) = delete;
    void add(const ggml_tensor * like, ggml_type type) {
        ggml_tensor * t = ggml_new_tensor(meta, type, ggml_n_dims(like), like->ne);
        ggml_set_name(t, like->name);
        list.push_back(t);
    }
};

// `values` (the shape of `t`) in t's type, into `bytes` (sized for it).
void convert(const std::vector<float> & values, const ggml_tensor * t, std::vector<uint8_t> & bytes) {
    if (t->type == GGML_TYPE_F32) {
        memcpy(bytes.data(), values.data(), values.size() * sizeof(float));
    } else {
        ggml_quantize_chunk(t->type, values.data(), bytes.data(), 0, t->ne[1] * t->ne[2] * t->ne[3], t->ne[0], nullptr);
    }
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
    const GgufReader in(in_path, "--model");
    OutputTensors out(in.n_tensors());
    QuantizeCounts counts;
    for (int64_t i = 0; i < in.n_tensors(); i++) {
        const ggml_tensor * t = in.tensor(i);
        // Matrices whose rows fill whole blocks are converted; norms, biases and odd shapes stay F32
        // (as llama.cpp's quantizer keeps 1-d tensors).
        const bool matrix = ggml_n_dims(t) == 2 && t->ne[0] % ggml_blck_size(type) == 0;
        out.add(t, matrix ? type : GGML_TYPE_F32);
        (matrix ? counts.converted : counts.kept_f32)++;
    }
    gguf_context * g = gguf_init_empty();
    gguf_set_kv(g, in.gguf());
    gguf_set_val_u32(g, "general.file_type", static_cast<uint32_t>(file_type));
    write_gguf_atomic(g, out.list, out_path, [&](size_t i, std::vector<uint8_t> & bytes) {
        convert(in.read_floats(in.tensor(static_cast<int64_t>(i))), out.list[i], bytes);
    });
    gguf_free(g);
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
    const float alpha = lora_options_of(adapter_path, "--adapter").alpha;  // validates the adapter's keys
    const GgufReader base(base_path, "--model");
    const GgufReader adapter(adapter_path, "--adapter");

    // An adapted weight is written F32 (exact: W + scale·B·A), the others as they are.
    struct Pair { const ggml_tensor * a; const ggml_tensor * b; };
    std::map<int64_t, Pair> pairs;
    OutputTensors out(base.n_tensors());
    for (int64_t i = 0; i < base.n_tensors(); i++) {
        const ggml_tensor * w = base.tensor(i);
        const std::string name = w->name;
        const ggml_tensor * a = adapter.find(name + ".lora_a");
        const ggml_tensor * b = adapter.find(name + ".lora_b");
        if (!a && !b) {
            out.add(w, w->type);
            continue;
        }
        if (!a || !b || a->type != GGML_TYPE_F32 || b->type != GGML_TYPE_F32 || a->ne[0] != w->ne[0] || b->ne[1] != w->ne[1] || a->ne[1] != b->ne[0]) {
            throw InputError("--adapter: " + adapter_path + ": the pair for " + name + " does not fit the base weight's shape");
        }
        pairs[i] = {a, b};
        out.add(w, GGML_TYPE_F32);
    }
    if (2 * static_cast<int64_t>(pairs.size()) != adapter.n_tensors()) {
        throw InputError("--adapter: " + adapter_path + " adapts tensors that " + base_path + " does not have");
    }
    gguf_context * g = gguf_init_empty();
    gguf_set_kv(g, base.gguf());
    gguf_set_val_str(g, "arbor.merged_adapter", adapter_path.c_str());
    write_gguf_atomic(g, out.list, out_path, [&](size_t i, std::vector<uint8_t> & bytes) {
        const ggml_tensor * w = base.tensor(static_cast<int64_t>(i));
        const auto found = pairs.find(static_cast<int64_t>(i));
        if (found == pairs.end()) {
            base.read(w, bytes);
            return;
        }
        // W[o, i] += scale · Σ_k B[o, k]·A[k, i], with scale = user scale · alpha / rank as llama.cpp applies it.
        const int64_t n_in = w->ne[0], n_out = w->ne[1], rank = found->second.a->ne[1];
        const float scale = static_cast<float>(user_scale * alpha / static_cast<double>(rank));
        std::vector<float> values = base.read_floats(w);
        const std::vector<float> A = adapter.read_floats(found->second.a);
        const std::vector<float> B = adapter.read_floats(found->second.b);
        for (int64_t o = 0; o < n_out; o++) {
            float * row = &values[o * n_in];
            for (int64_t k = 0; k < rank; k++) {
                const float f = scale * B[o * rank + k];
                const float * a_row = &A[k * n_in];
                for (int64_t j = 0; j < n_in; j++) row[j] += f * a_row[j];
            }
        }
        convert(values, out.list[i], bytes);
    });
    gguf_free(g);
    JsonLine("merge").str("out", out_path).integer("merged", static_cast<int64_t>(pairs.size())).emit();
    return EXIT_OK;
}

} // namespace arbor
