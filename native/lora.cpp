#include "lora.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <sstream>

namespace arbor {

namespace {

// The targets' tensors in a model, by short name.
std::vector<std::pair<std::string, ggml_tensor *>> target_weights(const Model & model, const std::string & target) {
    std::vector<std::pair<std::string, ggml_tensor *>> out;
    if (target == "output") {
        if (!model.output) throw InputError("--lora-targets: output is tied to token_embd in " + model.path + " (no output.weight to adapt)");
        out.emplace_back("output.weight", model.output);
        return out;
    }
    for (size_t il = 0; il < model.layers.size(); il++) {
        const Layer & L = model.layers[il];
        const std::map<std::string, ggml_tensor *> by_name = {
            {"attn_q", L.wq}, {"attn_k", L.wk}, {"attn_v", L.wv}, {"attn_output", L.wo},
            {"ffn_gate", L.ffn_gate}, {"ffn_up", L.ffn_up}, {"ffn_down", L.ffn_down}};
        const auto it = by_name.find(target);
        if (it == by_name.end()) throw InputError("unknown LoRA target tensor '" + target + "'");
        out.emplace_back(std::string(it->second->name), it->second);
    }
    return out;
}

std::vector<std::string> split_list(const std::string & text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

} // namespace

const std::vector<std::string> & lora_target_names() {
    static const std::vector<std::string> names = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output"};
    return names;
}

LoraOptions lora_options_of(const std::string & path, const std::string & flag) {
    const GgufReader file(path, flag);
    const gguf_context * g = file.gguf();
    const int64_t type_id = gguf_find_key(g, "adapter.type");
    const int64_t alpha_id = gguf_find_key(g, "adapter.lora.alpha");
    if (type_id < 0 || gguf_get_kv_type(g, type_id) != GGUF_TYPE_STRING || std::string(gguf_get_val_str(g, type_id)) != "lora" ||
        alpha_id < 0 || gguf_get_kv_type(g, alpha_id) != GGUF_TYPE_FLOAT32) {
        throw InputError(flag + ": " + path + ": not a LoRA adapter (adapter.type = lora, adapter.lora.alpha as F32)");
    }
    LoraOptions o;
    o.init_path = path;
    o.alpha = gguf_get_val_f32(g, alpha_id);
    // blk.N.<target>.weight.lora_a or <target>.weight.lora_a; the rank is A's second dimension.
    const std::string suffix = ".weight.lora_a";
    for (int64_t i = 0; i < file.n_tensors(); i++) {
        const ggml_tensor * t = file.tensor(i);
        std::string name = t->name;
        if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        name.resize(name.size() - suffix.size());
        const std::string target = name.rfind("blk.", 0) == 0 ? name.substr(name.find('.', 4) + 1) : name;
        if (std::find(o.targets.begin(), o.targets.end(), target) == o.targets.end()) o.targets.push_back(target);
        o.rank = static_cast<int>(t->ne[1]);
    }
    if (o.targets.empty()) throw InputError(flag + ": " + path + ": the adapter has no .lora_a tensors");
    return o;
}

LoraOptions read_lora_options(const Args & args) {
    if (args.has("lora-init")) {
        if (args.has("lora-rank") || args.has("lora-alpha") || args.has("lora-targets")) {
            throw InputError("--lora-init continues an adapter with its own rank, alpha and targets: leave out --lora-rank, --lora-alpha and --lora-targets");
        }
        return lora_options_of(args.required("lora-init"), "--lora-init");
    }
    LoraOptions o;
    if (!args.has("lora-rank")) {
        if (args.has("lora-alpha") || args.has("lora-targets")) throw InputError("--lora-alpha and --lora-targets need --lora-rank");
        return o;
    }
    o.rank = static_cast<int>(args.integer("lora-rank", 0));
    if (o.rank <= 0) throw InputError("--lora-rank must be positive, got " + args.str("lora-rank"));
    o.alpha = static_cast<float>(args.number("lora-alpha", o.rank));
    if (!(o.alpha > 0)) throw InputError("--lora-alpha must be positive, got " + args.str("lora-alpha"));
    if (args.has("lora-targets")) {
        o.targets = split_list(args.str("lora-targets"));
    } else {  // every layer matrix: all but the (optional) output matrix
        const auto & all = lora_target_names();
        std::copy_if(all.begin(), all.end(), std::back_inserter(o.targets), [](const std::string & t) { return t != "output"; });
    }
    if (o.targets.empty()) throw InputError("--lora-targets is empty");
    const auto & known = lora_target_names();
    for (const auto & t : o.targets) {
        if (std::find(known.begin(), known.end(), t) == known.end()) {
            std::string list;
            for (const auto & k : known) list += (list.empty() ? "" : ", ") + k;
            throw InputError("--lora-targets: unknown target tensor '" + t + "' (known: " + list + ")");
        }
    }
    return o;
}

void add_lora(Model & model, const LoraOptions & options, uint64_t seed, ggml_backend_t backend) {
    if (!model.frozen) throw std::logic_error("add_lora needs a model loaded frozen");
    Lora & lora = model.lora;
    lora.rank = options.rank;
    lora.alpha = options.alpha;
    std::vector<std::pair<std::string, ggml_tensor *>> weights;
    for (const auto & t : options.targets) {
        for (auto & w : target_weights(model, t)) weights.push_back(w);
    }
    ggml_init_params ip = {ggml_tensor_overhead() * 2 * weights.size(), nullptr, true};
    lora.ctx = ggml_init(ip);
    // Keep GGUF order, as llama.cpp's converters write adapters.
    std::sort(weights.begin(), weights.end(), [&](const auto & x, const auto & y) {
        return gguf_find_tensor(model.source->gguf(), x.first.c_str()) < gguf_find_tensor(model.source->gguf(), y.first.c_str());
    });
    for (auto & [name, w] : weights) {
        LoraPair pair;
        pair.a = ggml_new_tensor_2d(lora.ctx, GGML_TYPE_F32, w->ne[0], options.rank);
        pair.b = ggml_new_tensor_2d(lora.ctx, GGML_TYPE_F32, options.rank, w->ne[1]);
        ggml_format_name(pair.a, "%s.lora_a", name.c_str());
        ggml_format_name(pair.b, "%s.lora_b", name.c_str());
        for (ggml_tensor * t : {pair.a, pair.b}) {
            ggml_set_param(t);
            model.params.push_back(t);
        }
        lora.pairs[w] = pair;
    }
    lora.buffer = ggml_backend_alloc_ctx_tensors(lora.ctx, backend);
    if (!lora.buffer) throw std::runtime_error("cannot allocate the LoRA adapter on the backend");

    if (!options.init_path.empty()) {
        const GgufReader init(options.init_path, "--lora-init");
        std::vector<uint8_t> bytes;
        int64_t found = 0;
        for (auto & [w, pair] : lora.pairs) {
            for (ggml_tensor * t : {pair.a, pair.b}) {
                const ggml_tensor * h = init.find(t->name);
                if (!h || h->type != GGML_TYPE_F32 || !ggml_are_same_shape(h, t)) {
                    throw InputError(options.init_path + ": no F32 tensor " + t->name + " of rank " + std::to_string(options.rank) +
                                     " (an adapter of another base model?)");
                }
                init.read(h, bytes);
                ggml_backend_tensor_set(t, bytes.data(), 0, bytes.size());
                found++;
            }
        }
        if (found != init.n_tensors()) {
            throw InputError(options.init_path + ": tensors that are not LoRA pairs of this model's weights");
        }
        return;
    }
    // A: uniform ±1/√n_in (PEFT's default); B: zero, so training starts from the base model exactly.
    Rng rng(seed);
    std::vector<float> values;
    for (auto & [w, pair] : lora.pairs) {
        const float bound = 1.0f / std::sqrt(static_cast<float>(w->ne[0]));
        values.resize(ggml_nelements(pair.a));
        for (float & v : values) v = bound * static_cast<float>(2.0 * rng.uniform() - 1.0);
        ggml_backend_tensor_set(pair.a, values.data(), 0, ggml_nbytes(pair.a));
        ggml_backend_tensor_memset(pair.b, 0, 0, ggml_nbytes(pair.b));
    }
}

void save_adapter(const Model & model, const std::string & out_path,
                  const std::vector<std::pair<std::string, std::string>> & extra_str,
                  const std::vector<std::pair<std::string, int64_t>> & extra_int) {
    gguf_context * g = gguf_init_empty();
    gguf_set_val_str(g, "general.type", "adapter");
    gguf_set_val_str(g, "general.architecture", model.hp.arch.c_str());
    gguf_set_val_str(g, "adapter.type", "lora");
    gguf_set_val_f32(g, "adapter.lora.alpha", model.lora.alpha);  // llama.cpp reads it as F32 only
    for (auto & [k, v] : extra_str) gguf_set_val_str(g, k.c_str(), v.c_str());
    for (auto & [k, v] : extra_int) gguf_set_val_i64(g, k.c_str(), v);
    write_gguf_atomic(g, {model.params.begin(), model.params.end()}, out_path);
    gguf_free(g);
}

ggml_tensor * lora_linear(ggml_context * ctx, const Model & model, ggml_tensor * w, ggml_tensor * x) {
    ggml_tensor * wf = w;
    if (w->type != GGML_TYPE_F32) wf = ggml_get_rows(ctx, w, ggml_view_1d(ctx, model.row_ids, w->ne[1], 0));
    ggml_tensor * y = ggml_mul_mat(ctx, wf, x);
    auto it = model.lora.pairs.find(w);
    if (it == model.lora.pairs.end()) return y;
    const float scale = model.lora.alpha / static_cast<float>(model.lora.rank);
    ggml_tensor * ab = ggml_mul_mat(ctx, it->second.b, ggml_mul_mat(ctx, it->second.a, x));
    return ggml_add(ctx, y, ggml_scale(ctx, ab, scale));
}

} // namespace arbor
