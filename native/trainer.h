// Gradient computation, AdamW updates and checkpoints for a Model: the engine behind `train`.
#pragma once

#include "data.h"
#include "model.h"

#include "ggml-alloc.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace arbor {

struct OptimizerConfig {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;  // matrices only; norms and biases are not decayed
};

// The dpo objective (paired data): loss per pair −log σ(β·(margin − reference margin)), plus
// sft_weight × the mean negative log-likelihood of the chosen side (RPO's SFT term; 0: pure DPO).
struct DpoConfig {
    bool enabled = false;
    float beta = 0.1f;
    float sft_weight = 0.0f;
};

// What a step's losses are normalised by: its total target weight (the chosen sides' only, for
// dpo) and, for dpo, its total pair weight (a pair weighs what its row's `weight` gave its targets).
struct StepTotals {
    double weight = 0;
    double pair_weight = 0;
    bool empty() const { return weight <= 0 && pair_weight <= 0; }
};

StepTotals totals_of(const Dataset & data, const std::vector<uint32_t> & examples);

class Trainer {
public:
    // graph_sequences: sequences computed at once (a micro-batch or a part of one; even for dpo);
    // targets_per_example: the most targets any example has.
    Trainer(Model & model, ggml_backend_t backend, int graph_sequences, size_t targets_per_example, bool keep_logits = false,
            const DpoConfig & dpo = {});
    ~Trainer();
    Trainer(const Trainer &) = delete;
    Trainer & operator=(const Trainer &) = delete;

    // Adds the gradient of this micro-batch (example indices) to the accumulators, normalised by the
    // totals of the whole optimizer step. Returns the batch's share of the loss.
    double accumulate(const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals) {
        return evaluate(data, batch, totals, true);
    }
    // Loss only, no gradient (validation, finite differences).
    double loss(const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals) {
        return evaluate(data, batch, totals, false);
    }
    // dpo: every pair's margin log p(chosen) − log p(rejected) under the current weights, in pair
    // order; `progress(pairs done, pairs)` after each graph.
    std::vector<float> margins(const Dataset & data, const std::function<void(size_t, size_t)> & progress = {});

    int graph_sequences() const { return graph_sequences_; }

    double grad_norm();
    // One AdamW step (t is 1-based) with gradients scaled by grad_scale, then zeroes the accumulators.
    void update(int64_t t, double lr, double grad_scale, const OptimizerConfig & opt);
    void zero_grads();

    // Reads back the accumulated gradient of a parameter / the logits of the last batch and their
    // gradients (diagnostics: the logits only with keep_logits, which holds them to the end of a step).
    std::vector<float> gradient(const ggml_tensor * param) const;
    std::vector<float> last_logits() const;
    std::vector<float> last_logit_grads() const;
    int last_positions() const { return last_T_; }
    // The position (b*T + t) of each row of last_logits(); -1 for padding rows.
    const std::vector<int32_t> & last_rows() const { return last_rows_; }

    void save_checkpoint(const std::string & path, int64_t step, const std::string & fingerprint) const;
    // Returns the step the checkpoint was written at; throws InputError if it does not fit this run.
    int64_t load_checkpoint(const std::string & path, const std::string & fingerprint);

private:
    struct StepGraph;
    StepGraph & graph_for(int T);
    double evaluate(const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals, bool backward);
    void fill_inputs(StepGraph & g, const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals);
    void build_optimizer_graphs();

    Model & model_;
    ggml_backend_t backend_;
    int graph_sequences_;
    int targets_per_graph_;
    bool keep_logits_;
    DpoConfig dpo_;
    std::map<int, std::unique_ptr<StepGraph>> graphs_;
    int last_T_ = 0;
    std::vector<int32_t> last_rows_;
    StepGraph * last_graph_ = nullptr;

    // Per-parameter gradient accumulators and AdamW moments, in their own buffers.
    ggml_context * grad_ctx_ = nullptr;
    ggml_backend_buffer_t grad_buffer_ = nullptr;
    ggml_context * state_ctx_ = nullptr;
    ggml_backend_buffer_t state_buffer_ = nullptr;
    std::map<const ggml_tensor *, ggml_tensor *> grad_of_;
    std::map<const ggml_tensor *, ggml_tensor *> m_of_;
    std::map<const ggml_tensor *, ggml_tensor *> v_of_;
    ggml_tensor * adamw_decay_ = nullptr;     // [7] AdamW parameters for decayed tensors
    ggml_tensor * adamw_no_decay_ = nullptr;  // [7] the same with weight decay 0
    ggml_tensor * grad_scale_ = nullptr;      // [1] clipping factor

    ggml_gallocr_t graph_alloc_ = nullptr;   // shared by the graphs of every sequence length
    ggml_context * opt_ctx_ = nullptr;
    ggml_cgraph * norm_graph_ = nullptr;
    ggml_tensor * norm_sq_ = nullptr;
    ggml_cgraph * update_graph_ = nullptr;
    ggml_gallocr_t opt_alloc_ = nullptr;
    ggml_gallocr_t norm_alloc_ = nullptr;
};

} // namespace arbor
