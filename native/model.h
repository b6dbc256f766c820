// A llama-family model held as trainable ggml tensors: load from GGUF, create fresh, save, forward graph.
#pragma once

#include "common.h"

#include "ggml.h"
#include "ggml-backend.h"
#include "gguf.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace arbor {

struct HParams {
    std::string arch = "llama";   // "llama" or "qwen2" (QKV bias, NEOX rope)
    int n_vocab = 0;
    int n_embd = 128;
    int n_layer = 4;
    int n_head = 4;
    int n_head_kv = 4;
    int n_ff = 384;
    int n_ctx = 256;
    int n_rot = 32;               // rotary dimensions per head
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
    int rope_mode = GGML_ROPE_TYPE_NORMAL;
    bool qkv_bias = false;

    int head_dim() const { return n_embd / n_head; }
};

struct Layer {
    ggml_tensor * attn_norm = nullptr;
    ggml_tensor * wq = nullptr;
    ggml_tensor * wk = nullptr;
    ggml_tensor * wv = nullptr;
    ggml_tensor * bq = nullptr;
    ggml_tensor * bk = nullptr;
    ggml_tensor * bv = nullptr;
    ggml_tensor * wo = nullptr;
    ggml_tensor * ffn_norm = nullptr;
    ggml_tensor * ffn_gate = nullptr;
    ggml_tensor * ffn_up = nullptr;
    ggml_tensor * ffn_down = nullptr;
};

// A GGUF file's metadata and tensor infos; a tensor's data is read when asked for, one at a time
// (a model is never held whole in memory to be converted). Errors name the file, after `what` (a flag) if given.
class GgufReader {
public:
    GgufReader(const std::string & path, const std::string & what);
    ~GgufReader();
    GgufReader(const GgufReader &) = delete;
    GgufReader & operator=(const GgufReader &) = delete;

    const gguf_context * gguf() const { return gguf_; }
    int64_t n_tensors() const { return gguf_get_n_tensors(gguf_); }
    const ggml_tensor * tensor(int64_t i) const;            // metadata only, no data
    const ggml_tensor * find(const std::string & name) const;  // nullptr if absent
    void read(const ggml_tensor * t, std::vector<uint8_t> & bytes) const;
    // The tensor's values as floats (any type ggml can widen).
    std::vector<float> read_floats(const ggml_tensor * t) const;

private:
    std::string path_;
    gguf_context * gguf_ = nullptr;
    ggml_context * meta_ = nullptr;
    FILE * file_ = nullptr;
};

struct LoraPair {
    ggml_tensor * a = nullptr;  // [n_in, rank]
    ggml_tensor * b = nullptr;  // [rank, n_out], zero at the start
};

// The adapter of a frozen model (lora.h): its own tensors in their own backend buffer.
struct Lora {
    int rank = 0;
    float alpha = 0;
    std::map<const ggml_tensor *, LoraPair> pairs;  // keyed by the frozen weight
    ggml_context * ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
};

// Weights live in one backend buffer; the source GGUF is kept for its metadata. A full fine-tune
// trains every weight (widened to F32); a frozen model keeps each weight's type and trains its adapter.
struct Model {
    HParams hp;
    ggml_tensor * tok_embd = nullptr;
    ggml_tensor * output_norm = nullptr;
    ggml_tensor * output = nullptr;      // nullptr: tied to tok_embd
    ggml_tensor * rope_freqs = nullptr;  // optional, not trained
    std::vector<Layer> layers;
    std::vector<ggml_tensor *> params;   // every trainable tensor: the weights in GGUF order, or the adapter's
    bool frozen = false;
    ggml_tensor * row_ids = nullptr;     // frozen: I32 0..n-1, get_rows widens a whole weight to F32
    Lora lora;

    ggml_context * ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
    std::unique_ptr<GgufReader> source;  // the input file: metadata and tensor order
    std::string path;

    Model() = default;
    Model(const Model &) = delete;
    Model & operator=(const Model &) = delete;
    ~Model();

    int64_t n_params() const;
};

// Loads a llama/qwen2 GGUF onto `backend`. For a full fine-tune (frozen = false) F16/BF16 weights are
// widened to F32 and become params; quantized weights are an InputError naming the file. Frozen:
// every weight keeps its type and none is a param (train an adapter, lora.h).
void load_model(Model & model, const std::string & path, ggml_backend_t backend, bool frozen = false);

// Writes a fresh model with a character vocabulary (every distinct UTF-8 character of `chars`).
// `tied`: no output.weight; the logits reuse token_embd (as Qwen2-0.5B does).
void init_model_file(const std::string & out_path, const HParams & hp, const std::string & chars,
                     uint64_t seed, const std::string & name, bool tied = false);

// The same with the vocabulary of `vocab_path`, a GGUF (metadata-only is enough) whose every
// `tokenizer.*` key is copied; n_vocab = the length of its tokenizer.ggml.tokens.
void init_model_file_from_vocab(const std::string & out_path, const HParams & hp, const std::string & vocab_path,
                                uint64_t seed, const std::string & name, bool tied = false);

// Saves the current weights (F32) with the source metadata plus `extra` string keys.
void save_model(const Model & model, const std::string & out_path,
                const std::vector<std::pair<std::string, std::string>> & extra_str,
                const std::vector<std::pair<std::string, int64_t>> & extra_int);

struct ForwardInputs {
    ggml_tensor * tokens = nullptr;      // I32 [T*B]
    ggml_tensor * positions = nullptr;   // I32 [T]
    ggml_tensor * causal_mask = nullptr; // F32 [T, T]: 0 where a query may attend, -inf after it
    ggml_tensor * rows = nullptr;        // I32 [R]: the positions (b*T + t) that have targets; padding repeats 0
    ggml_tensor * target_index = nullptr;  // I32 [K]: flat index row*V + token into the log-probs of `rows`
    ggml_tensor * target_weight = nullptr; // F32 [1, K]: already divided by the step's total weight
    // DPO only (P pairs):
    ggml_tensor * pair_sign = nullptr;   // F32 [K, P]: +weight for the chosen side's target slots of a pair, -weight for the rejected
    ggml_tensor * ref_margin = nullptr;  // F32 [P]: the reference model's margin of each pair
    ggml_tensor * pair_weight = nullptr; // F32 [P]: 1 / pairs in the step; 0 for padding
    // pg only, one value per target slot, 0 for padding (each coefficient already holds the slot's aggregation weight):
    ggml_tensor * pg_positive = nullptr; // F32 [1, K]: c·max(A, 0)
    ggml_tensor * pg_negative = nullptr; // F32 [1, K]: c·min(A, 0)
    ggml_tensor * pg_old = nullptr;      // F32 [1, K]: log π_old of the target token
    ggml_tensor * pg_kl = nullptr;       // F32 [1, K]: β·c
};

// What the loss adds to (or, for pg, puts in place of) the weighted cross-entropy.
struct LossOptions {
    int pairs = 0;           // dpo: P pairs per graph
    float dpo_beta = 0.0f;
    bool pg = false;         // the clipped-ratio policy-gradient surrogate
    float pg_low = 0.8f;     // 1 − ε_low
    float pg_high = 1.28f;   // 1 + ε_high
};

struct ForwardGraph {
    ForwardInputs in;
    ggml_tensor * logits = nullptr;      // [V, R]: only the positions with targets (a large vocabulary costs V per row)
    ggml_tensor * margin = nullptr;      // DPO: [P, 1] log p(chosen) − log p(rejected) of each pair
    ggml_tensor * ratio = nullptr;       // pg: [1, K] π/π_old of each target slot (monitors: clip fraction, KL)
    ggml_tensor * entropy = nullptr;     // pg: [1, R] the entropy of each target row's next-token distribution
    ggml_tensor * loss = nullptr;        // scalar: weighted negative log-likelihood, plus the DPO loss; or the pg loss
};

// Builds inputs and the loss for T positions x B sequences, R target positions and K target slots in
// `ctx` (no_alloc). With loss.pairs = P > 0, the DPO loss Σ_p w_p · −log σ(β·(margin_p − ref_p)) is
// added (log σ(z) = −softplus(−z): ggml differentiates softplus, not sigmoid). With loss.pg, the loss
// is −Σ_k c_k·min(ρ_k·A_k, clip(ρ_k, low, high)·A_k) + β·Σ_k c_k·(ρ_k − log ρ_k − 1) (k3 KL from π_old),
// ρ_k = exp(log π − log π_old); min(ρ, high) = ρ − relu(ρ − high), max(ρ, low) = ρ + relu(low − ρ).
ForwardGraph build_forward(ggml_context * ctx, const Model & model, int T, int B, int R, int K, const LossOptions & loss = {});

struct QuantizeCounts {
    int64_t converted = 0;
    int64_t kept_f32 = 0;
};

// Writes `in_path` with every matrix whose rows fill whole blocks converted to `type_name` (f32, f16,
// bf16, q8_0, q4_0, q4_k, q6_k); other tensors are written as F32.
QuantizeCounts quantize_model_file(const std::string & in_path, const std::string & out_path, const std::string & type_name);

// Sets positions 0..T-1 and the causal mask (the inputs every forward graph of length T shares).
void set_attention_inputs(const ForwardInputs & in, int T);

// Writes a GGUF file atomically (temp file + rename) so a crash never leaves a truncated model.
void write_gguf_atomic(const gguf_context * gguf, const std::string & path);

// The same, streamed: `gguf` gets the infos (names, types, shapes) of `tensors`, then tensor i's
// data is `fill(i, bytes)` (bytes sized to it), written in turn: one tensor in memory at a time.
void write_gguf_atomic(gguf_context * gguf, const std::vector<const ggml_tensor *> & tensors, const std::string & path,
                       const std::function<void(size_t, std::vector<uint8_t> &)> & fill);

// Backend tensors, each read from the backend as it is written (saving holds no second model copy).
void write_gguf_atomic(gguf_context * gguf, const std::vector<const ggml_tensor *> & tensors, const std::string & path);

} // namespace arbor
