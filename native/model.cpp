// Models as GGUF files: loading (hyper-parameters, tensors, vocabulary), fresh initialisation, saving.
#include "model.h"

#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace arbor {

namespace {

int64_t gguf_int(const gguf_context * g, const std::string & key, int64_t fallback, const std::string & file) {
    const int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) {
        if (fallback < 0) throw InputError(file + ": missing metadata key " + key);
        return fallback;
    }
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, id);
        case GGUF_TYPE_INT8: return gguf_get_val_i8(g, id);
        case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
        case GGUF_TYPE_INT16: return gguf_get_val_i16(g, id);
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
        case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
        case GGUF_TYPE_UINT64: return static_cast<int64_t>(gguf_get_val_u64(g, id));
        case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
        default: throw InputError(file + ": metadata key " + key + " is not an integer");
    }
}

float gguf_float(const gguf_context * g, const std::string & key, float fallback) {
    const int64_t id = gguf_find_key(g, key.c_str());
    if (id < 0) return fallback;
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(g, id);
        case GGUF_TYPE_FLOAT64: return static_cast<float>(gguf_get_val_f64(g, id));
        default: return fallback;
    }
}

bool is_trainable_type(ggml_type t) {
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16;
}

// Splits UTF-8 text into distinct characters, in order of first appearance.
std::vector<std::string> distinct_utf8_chars(const std::string & text) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < text.size();) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > text.size()) throw InputError("vocabulary file is not valid UTF-8 at byte " + std::to_string(i));
        std::string ch = text.substr(i, len);
        i += len;
        if (ch == "\r") continue;
        if (seen.insert(ch).second) out.push_back(ch);
    }
    return out;
}

} // namespace

Model::~Model() {
    if (lora.buffer) ggml_backend_buffer_free(lora.buffer);
    if (lora.ctx) ggml_free(lora.ctx);
    if (buffer) ggml_backend_buffer_free(buffer);
    if (ctx) ggml_free(ctx);
}

int64_t Model::n_params() const {
    int64_t n = 0;
    for (auto * t : params) n += ggml_nelements(t);
    return n;
}

void load_model(Model & model, const std::string & path, ggml_backend_t backend, bool frozen) {
    model.path = path;
    model.frozen = frozen;
    // Tensor metadata only: each tensor's data is read from the file straight into the backend buffer
    // below, so a model is never held twice in memory.
    model.source = std::make_unique<GgufReader>(path, "");
    const GgufReader & reader = *model.source;
    const gguf_context * g = reader.gguf();
    const int64_t arch_id = gguf_find_key(g, "general.architecture");
    if (arch_id < 0) throw InputError(path + ": missing general.architecture");
    const std::string arch = gguf_get_val_str(g, arch_id);
    HParams & hp = model.hp;
    hp.arch = arch;
    if (arch == "llama") {
        hp.rope_mode = GGML_ROPE_TYPE_NORMAL;
        hp.qkv_bias = false;
    } else if (arch == "qwen2") {
        hp.rope_mode = GGML_ROPE_TYPE_NEOX;
        hp.qkv_bias = true;
    } else {
        throw InputError(path + ": unknown architecture '" + arch + "' (the trainer supports llama and qwen2)");
    }
    hp.n_embd = static_cast<int>(gguf_int(g, arch + ".embedding_length", -1, path));
    hp.n_layer = static_cast<int>(gguf_int(g, arch + ".block_count", -1, path));
    hp.n_ff = static_cast<int>(gguf_int(g, arch + ".feed_forward_length", -1, path));
    hp.n_head = static_cast<int>(gguf_int(g, arch + ".attention.head_count", -1, path));
    hp.n_head_kv = static_cast<int>(gguf_int(g, arch + ".attention.head_count_kv", hp.n_head, path));
    hp.n_ctx = static_cast<int>(gguf_int(g, arch + ".context_length", -1, path));
    hp.n_rot = static_cast<int>(gguf_int(g, arch + ".rope.dimension_count", hp.n_embd / hp.n_head, path));
    hp.rms_eps = gguf_float(g, arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    hp.rope_base = gguf_float(g, arch + ".rope.freq_base", 10000.0f);
    if (hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_head % hp.n_head_kv != 0) {
        throw InputError(path + ": head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " +
                         std::to_string(hp.n_head_kv));
    }

    // Every tensor the graph uses must exist and be trainable (unquantized).
    auto need = [&](const std::string & name, bool required) -> const ggml_tensor * {
        const ggml_tensor * t = reader.find(name);
        if (!t) {
            if (required) throw InputError(path + ": missing tensor " + name);
            return nullptr;
        }
        if (!frozen && !is_trainable_type(t->type) && name != "rope_freqs.weight") {
            throw InputError(path + ": tensor " + name + " is quantized (" + ggml_type_name(t->type) +
                             "); a full fine-tune needs F32, F16 or BF16 weights (train a LoRA adapter with --lora-rank)");
        }
        return t;
    };

    const size_t n_tensors = static_cast<size_t>(reader.n_tensors()) + 4;
    ggml_init_params ip = { ggml_tensor_overhead() * n_tensors, nullptr, /*no_alloc =*/ true };
    model.ctx = ggml_init(ip);

    std::vector<std::pair<ggml_tensor *, const ggml_tensor *>> copies;  // (device, file)
    auto make = [&](const std::string & name, bool required, bool weight) -> ggml_tensor * {
        const bool trainable = weight && !frozen;
        const ggml_tensor * src = need(name, required);
        if (!src) return nullptr;
        ggml_tensor * t = ggml_new_tensor(model.ctx, trainable ? GGML_TYPE_F32 : src->type, ggml_n_dims(src), src->ne);
        ggml_set_name(t, name.c_str());
        if (trainable) {
            ggml_set_param(t);
        }
        copies.emplace_back(t, src);
        return t;
    };

    model.tok_embd = make("token_embd.weight", true, true);
    hp.n_vocab = static_cast<int>(model.tok_embd->ne[1]);
    model.output_norm = make("output_norm.weight", true, true);
    model.output = make("output.weight", false, true);
    model.rope_freqs = make("rope_freqs.weight", false, false);
    model.layers.resize(hp.n_layer);
    for (int il = 0; il < hp.n_layer; il++) {
        const std::string p = "blk." + std::to_string(il) + ".";
        Layer & L = model.layers[il];
        L.attn_norm = make(p + "attn_norm.weight", true, true);
        L.wq = make(p + "attn_q.weight", true, true);
        L.wk = make(p + "attn_k.weight", true, true);
        L.wv = make(p + "attn_v.weight", true, true);
        L.bq = make(p + "attn_q.bias", hp.qkv_bias, true);
        L.bk = make(p + "attn_k.bias", hp.qkv_bias, true);
        L.bv = make(p + "attn_v.bias", hp.qkv_bias, true);
        L.wo = make(p + "attn_output.weight", true, true);
        L.ffn_norm = make(p + "ffn_norm.weight", true, true);
        L.ffn_gate = make(p + "ffn_gate.weight", true, true);
        L.ffn_up = make(p + "ffn_up.weight", true, true);
        L.ffn_down = make(p + "ffn_down.weight", true, true);
    }
    // Keep GGUF order so saved files list tensors as the input did.
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        ggml_tensor * t = ggml_get_tensor(model.ctx, gguf_get_tensor_name(g, i));
        if (t && (t->flags & GGML_TENSOR_FLAG_PARAM)) model.params.push_back(t);
    }

    int64_t max_rows = 0;
    for (auto & [dst, src] : copies) max_rows = std::max(max_rows, dst->ne[1]);
    if (frozen) model.row_ids = ggml_new_tensor_1d(model.ctx, GGML_TYPE_I32, max_rows);
    model.buffer = ggml_backend_alloc_ctx_tensors(model.ctx, backend);
    if (!model.buffer) throw std::runtime_error("cannot allocate model weights on the backend");
    if (frozen) {
        std::vector<int32_t> ids(max_rows);
        for (int64_t i = 0; i < max_rows; i++) ids[i] = static_cast<int32_t>(i);
        ggml_backend_tensor_set(model.row_ids, ids.data(), 0, ids.size() * sizeof(int32_t));
    }
    std::vector<uint8_t> bytes;
    for (auto & [dst, src] : copies) {
        if (dst->type == src->type) {
            reader.read(src, bytes);
            ggml_backend_tensor_set(dst, bytes.data(), 0, bytes.size());
        } else {  // F16 / BF16 widened for a full fine-tune
            const std::vector<float> widened = reader.read_floats(src);
            ggml_backend_tensor_set(dst, widened.data(), 0, widened.size() * sizeof(float));
        }
    }
}

void write_gguf_atomic(const gguf_context * gguf, const std::string & path) {
    const std::string tmp = path + ".tmp";
    if (!gguf_write_to_file(gguf, tmp.c_str(), false)) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

void write_gguf_atomic(gguf_context * gguf, const std::vector<const ggml_tensor *> & tensors, const std::string & path,
                       const std::function<void(size_t, std::vector<uint8_t> &)> & fill) {
    for (const ggml_tensor * t : tensors) gguf_add_tensor(gguf, t);
    const std::string tmp = path + ".tmp";
    std::unique_ptr<FILE, decltype(&fclose)> file(fopen(tmp.c_str(), "wb"), fclose);
    bool ok = file && gguf_write_to_file_ptr(gguf, file.get(), /*only_meta =*/ true);
    const size_t alignment = gguf_get_alignment(gguf);
    std::vector<uint8_t> bytes;
    for (size_t i = 0; ok && i < tensors.size(); i++) {
        const size_t n = ggml_nbytes(tensors[i]);
        bytes.assign(n, 0);
        fill(i, bytes);
        bytes.resize(GGML_PAD(n, alignment), 0);  // data offsets are aligned: pad each tensor
        ok = fwrite(bytes.data(), 1, bytes.size(), file.get()) == bytes.size();
    }
    ok = ok && fflush(file.get()) == 0;
    const int error = errno;
    file.reset();
    if (!ok) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(error));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

void write_gguf_atomic(gguf_context * gguf, const std::vector<const ggml_tensor *> & tensors, const std::string & path) {
    write_gguf_atomic(gguf, tensors, path, [&](size_t i, std::vector<uint8_t> & bytes) {
        ggml_backend_tensor_get(tensors[i], bytes.data(), 0, bytes.size());
    });
}

GgufReader::GgufReader(const std::string & path, const std::string & what) : path_(path) {
    const std::string named = (what.empty() ? "" : what + ": ") + path;
    gguf_init_params gp = {/*no_alloc =*/ true, &meta_};
    gguf_ = gguf_init_from_file(path.c_str(), gp);
    if (!gguf_) throw InputError(named + ": not a readable GGUF file");
    file_ = fopen(path.c_str(), "rb");
    if (!file_) throw InputError(named + ": cannot open");
}

GgufReader::~GgufReader() {
    if (file_) fclose(file_);
    if (meta_) ggml_free(meta_);
    if (gguf_) gguf_free(gguf_);
}

const ggml_tensor * GgufReader::tensor(int64_t i) const {
    return ggml_get_tensor(meta_, gguf_get_tensor_name(gguf_, i));
}

const ggml_tensor * GgufReader::find(const std::string & name) const {
    return ggml_get_tensor(meta_, name.c_str());
}

void GgufReader::read(const ggml_tensor * t, std::vector<uint8_t> & bytes) const {
    const int64_t id = gguf_find_tensor(gguf_, t->name);
    bytes.resize(ggml_nbytes(t));
    if (id < 0 || fseeko(file_, static_cast<off_t>(gguf_get_data_offset(gguf_) + gguf_get_tensor_offset(gguf_, id)), SEEK_SET) != 0 ||
        fread(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
        throw InputError(path_ + ": cannot read tensor " + t->name + " (truncated file?)");
    }
}

std::vector<float> GgufReader::read_floats(const ggml_tensor * t) const {
    std::vector<uint8_t> bytes;
    read(t, bytes);
    std::vector<float> out(ggml_nelements(t));
    if (t->type == GGML_TYPE_F32) {
        memcpy(out.data(), bytes.data(), bytes.size());
        return out;
    }
    const auto * traits = ggml_get_type_traits(t->type);
    if (!traits->to_float) throw InputError(path_ + ": tensor " + t->name + " has type " + ggml_type_name(t->type) + ", which ggml cannot widen");
    traits->to_float(bytes.data(), out.data(), static_cast<int64_t>(out.size()));
    return out;
}

namespace {

// The tokenizer keys of a character vocabulary: specials, newline as a byte token (llama.cpp requires
// one in an SPM vocabulary, and the byte type makes it detokenize exactly), space as '▁' (llama.cpp
// maps spaces to it before any byte fallback), then the other characters.
gguf_context * char_vocab_keys(const std::string & chars) {
    std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "<0x0A>", "\xE2\x96\x81"};
    std::vector<int32_t> types = {2, 3, 3, 6, 1};
    for (const auto & ch : distinct_utf8_chars(chars)) {
        if (ch == "\n" || ch == " ") continue;
        tokens.push_back(ch);
        types.push_back(1);
    }
    if (tokens.size() <= 5) throw InputError("the vocabulary file has no characters besides newline and space");
    // Byte tokens for every other byte: llama.cpp's SPM tokenizer aborts the process on a character
    // with neither a token nor a byte fallback, and node-llama-cpp tokenizes a probe text at load.
    for (int byte = 0; byte < 256; byte++) {
        if (byte == '\n') continue;
        char hex[8];
        snprintf(hex, sizeof(hex), "<0x%02X>", byte);
        tokens.push_back(hex);
        types.push_back(6);
    }
    gguf_context * g = gguf_init_empty();
    gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
    std::vector<const char *> token_ptrs;
    for (auto & t : tokens) token_ptrs.push_back(t.c_str());
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", token_ptrs.data(), token_ptrs.size());
    std::vector<float> scores(tokens.size(), 0.0f);
    gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores.data(), scores.size());
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types.data(), types.size());
    gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", 2);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", true);
    gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
    gguf_set_val_bool(g, "tokenizer.ggml.add_space_prefix", false);
    return g;
}

// The `tokenizer.*` keys of a GGUF file (other keys are dropped), checked enough that llama.cpp's
// vocabulary loader will not index out of range.
gguf_context * gguf_vocab_keys(const std::string & path) {
    gguf_init_params gp = { /*no_alloc =*/ true, /*ctx =*/ nullptr };
    gguf_context * g = gguf_init_from_file(path.c_str(), gp);
    if (!g) throw InputError(path + ": not a readable GGUF file");
    try {
        for (int64_t i = gguf_get_n_kv(g) - 1; i >= 0; i--) {
            const std::string key = gguf_get_key(g, i);
            if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(g, key.c_str());
        }
        const int64_t tokens = gguf_find_key(g, "tokenizer.ggml.tokens");
        if (tokens < 0 || gguf_get_kv_type(g, tokens) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, tokens) != GGUF_TYPE_STRING ||
            gguf_get_arr_n(g, tokens) == 0) {
            throw InputError(path + ": no tokenizer.ggml.tokens string array (not a vocabulary GGUF)");
        }
        const size_t n_vocab = gguf_get_arr_n(g, tokens);
        if (n_vocab > static_cast<size_t>(INT32_MAX)) throw InputError(path + ": too many tokens");
        for (const char * key : {"tokenizer.ggml.token_type", "tokenizer.ggml.scores"}) {
            const int64_t id = gguf_find_key(g, key);
            if (id >= 0 && (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY || gguf_get_arr_n(g, id) != n_vocab)) {
                throw InputError(path + ": " + key + " is not an array of " + std::to_string(n_vocab) + " values, one per token");
            }
        }
        for (const char * key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                                 "tokenizer.ggml.unknown_token_id"}) {
            if (gguf_find_key(g, key) >= 0 && gguf_int(g, key, 0, path) >= static_cast<int64_t>(n_vocab)) {
                throw InputError(path + ": " + key + " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
            }
        }
    } catch (...) {
        gguf_free(g);
        throw;
    }
    return g;
}

// Writes a fresh model: hyperparameters, the tokenizer keys of `vocab`, seeded random weights.
void write_fresh_model(const std::string & out_path, const HParams & hp_in, const gguf_context * vocab,
                       uint64_t seed, const std::string & name, bool tied) {
    HParams hp = hp_in;
    if (hp.n_embd % hp.n_head != 0) throw InputError("--dim must be a multiple of --heads");
    if (hp.n_head % hp.n_head_kv != 0) throw InputError("--heads must be a multiple of --kv-heads");
    if (hp.arch != "llama" && hp.arch != "qwen2") throw InputError("--arch must be llama or qwen2, got '" + hp.arch + "'");
    hp.n_vocab = static_cast<int>(gguf_get_arr_n(vocab, gguf_find_key(vocab, "tokenizer.ggml.tokens")));
    const int hd = hp.n_embd / hp.n_head;
    hp.n_rot = hd;

    gguf_context * g = gguf_init_empty();
    const std::string a = hp.arch;
    gguf_set_val_str(g, "general.architecture", a.c_str());
    gguf_set_val_str(g, "general.name", name.c_str());
    gguf_set_val_u32(g, "general.file_type", 0);
    gguf_set_val_u32(g, (a + ".context_length").c_str(), hp.n_ctx);
    gguf_set_val_u32(g, (a + ".embedding_length").c_str(), hp.n_embd);
    gguf_set_val_u32(g, (a + ".block_count").c_str(), hp.n_layer);
    gguf_set_val_u32(g, (a + ".feed_forward_length").c_str(), hp.n_ff);
    gguf_set_val_u32(g, (a + ".attention.head_count").c_str(), hp.n_head);
    gguf_set_val_u32(g, (a + ".attention.head_count_kv").c_str(), hp.n_head_kv);
    gguf_set_val_f32(g, (a + ".attention.layer_norm_rms_epsilon").c_str(), hp.rms_eps);
    gguf_set_val_u32(g, (a + ".rope.dimension_count").c_str(), hp.n_rot);
    gguf_set_val_f32(g, (a + ".rope.freq_base").c_str(), hp.rope_base);
    gguf_set_val_u32(g, (a + ".vocab_size").c_str(), hp.n_vocab);
    gguf_set_kv(g, vocab);
    gguf_set_val_u64(g, "arbor.init_seed", seed);

    const int n_kv = hp.n_head_kv * hd;
    struct Spec { std::string name; int64_t ne0, ne1; float std; };  // std < 0: a norm, filled with 1
    const float base = 0.02f;
    const float resid = base / std::sqrt(2.0f * hp.n_layer);  // residual projections: GPT-2 scaling
    std::vector<Spec> specs = {{"token_embd.weight", hp.n_embd, hp.n_vocab, base}};
    for (int il = 0; il < hp.n_layer; il++) {
        const std::string p = "blk." + std::to_string(il) + ".";
        specs.push_back({p + "attn_norm.weight", hp.n_embd, 1, -1});
        specs.push_back({p + "attn_q.weight", hp.n_embd, hp.n_embd, base});
        specs.push_back({p + "attn_k.weight", hp.n_embd, n_kv, base});
        specs.push_back({p + "attn_v.weight", hp.n_embd, n_kv, base});
        if (hp.arch == "qwen2") {  // QKV bias, zero at init
            specs.push_back({p + "attn_q.bias", hp.n_embd, 1, 0});
            specs.push_back({p + "attn_k.bias", n_kv, 1, 0});
            specs.push_back({p + "attn_v.bias", n_kv, 1, 0});
        }
        specs.push_back({p + "attn_output.weight", hp.n_embd, hp.n_embd, resid});
        specs.push_back({p + "ffn_norm.weight", hp.n_embd, 1, -1});
        specs.push_back({p + "ffn_gate.weight", hp.n_embd, hp.n_ff, base});
        specs.push_back({p + "ffn_up.weight", hp.n_embd, hp.n_ff, base});
        specs.push_back({p + "ffn_down.weight", hp.n_ff, hp.n_embd, resid});
    }
    specs.push_back({"output_norm.weight", hp.n_embd, 1, -1});
    if (!tied) specs.push_back({"output.weight", hp.n_embd, hp.n_vocab, base});

    size_t bytes = 0;
    for (auto & s : specs) bytes += s.ne0 * s.ne1 * sizeof(float) + ggml_tensor_overhead() + 64;
    ggml_init_params ip = { bytes, nullptr, false };
    ggml_context * ctx = ggml_init(ip);
    Rng rng(seed);
    for (auto & s : specs) {
        ggml_tensor * t = s.ne1 == 1 ? ggml_new_tensor_1d(ctx, GGML_TYPE_F32, s.ne0)
                                     : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, s.ne0, s.ne1);
        ggml_set_name(t, s.name.c_str());
        float * d = static_cast<float *>(t->data);
        for (int64_t i = 0; i < ggml_nelements(t); i++) d[i] = s.std < 0 ? 1.0f : s.std * rng.normal();
        gguf_add_tensor(g, t);
    }
    write_gguf_atomic(g, out_path);
    gguf_free(g);
    ggml_free(ctx);
}

} // namespace

// The vocabulary keys are freed when the full expression ends, written or not.
using GgufKeys = std::unique_ptr<gguf_context, decltype(&gguf_free)>;

void init_model_file(const std::string & out_path, const HParams & hp, const std::string & chars,
                     uint64_t seed, const std::string & name, bool tied) {
    write_fresh_model(out_path, hp, GgufKeys(char_vocab_keys(chars), gguf_free).get(), seed, name, tied);
}

void init_model_file_from_vocab(const std::string & out_path, const HParams & hp, const std::string & vocab_path,
                                uint64_t seed, const std::string & name, bool tied) {
    write_fresh_model(out_path, hp, GgufKeys(gguf_vocab_keys(vocab_path), gguf_free).get(), seed, name, tied);
}

void save_model(const Model & model, const std::string & out_path,
                const std::vector<std::pair<std::string, std::string>> & extra_str,
                const std::vector<std::pair<std::string, int64_t>> & extra_int) {
    gguf_context * g = gguf_init_empty();
    gguf_set_kv(g, model.source->gguf());
    gguf_set_val_u32(g, "general.file_type", 0);  // all F32 now
    for (auto & [k, v] : extra_str) gguf_set_val_str(g, k.c_str(), v.c_str());
    for (auto & [k, v] : extra_int) gguf_set_val_i64(g, k.c_str(), v);
    std::vector<const ggml_tensor *> tensors;
    for (int64_t i = 0; i < model.source->n_tensors(); i++) {
        const ggml_tensor * t = ggml_get_tensor(model.ctx, model.source->tensor(i)->name);
        if (t) tensors.push_back(t);  // tensors the graph does not use are not carried over
    }
    write_gguf_atomic(g, tensors, out_path);
    gguf_free(g);
}

} // namespace arbor
