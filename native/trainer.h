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

// The pg objective (data with advantages): per target token −min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A)
// + β·(ρ − log ρ − 1) (k3: KL(π_old ‖ π) on tokens sampled from π_old), ρ = π/π_old with π_old the model training starts from (Trainer::target_log_probs), the
// example's advantage A on every target of it, aggregated over a step as `aggregation` says:
// token_mean (DAPO: Σ over tokens ÷ the step's target weight), seq_mean (GRPO: each example's mean
// over its targets, then the weighted mean over examples), constant (Dr. GRPO: Σ over tokens ÷ the
// step's example weight × the longest example's target count in the data).
struct PgConfig {
    enum class Aggregation { token_mean, seq_mean, constant };
    bool enabled = false;
    float epsilon_low = 0.2f;
    float epsilon_high = 0.28f;
    float kl_beta = 0.0f;
    Aggregation aggregation = Aggregation::token_mean;
};

// The pg monitors summed over the graphs computed since they were last taken: target tokens, those
// whose gradient the clip cut off, their k3 KL from π_old, and the entropy of the target rows.
struct PgStats {
    double tokens = 0;
    double clipped = 0;
    double kl = 0;
    double rows = 0;
    double entropy = 0;
    double clip_fraction() const { return tokens > 0 ? clipped / tokens : 0; }
    double mean_kl() const { return tokens > 0 ? kl / tokens : 0; }
    double mean_entropy() const { return rows > 0 ? entropy / rows : 0; }
};

// What a step's losses are normalised by: its total target weight (the chosen sides' only, for
// dpo), for dpo its total pair weight (a pair weighs what its row's `weight` gave its targets), and
// for pg its total example weight (an example weighs what its row's `weight` gave its targets).
struct StepTotals {
    double weight = 0;
    double pair_weight = 0;
    double example_weight = 0;
    bool empty() const { return weight <= 0 && pair_weight <= 0; }
};

StepTotals totals_of(const Dataset & data, const std::vector<uint32_t> & examples);

class Trainer {
public:
    // graph_sequences: sequences computed at once (a micro-batch or a part of one; even for dpo);
    // targets_per_example: the most targets any example has.
    Trainer(Model & model, ggml_backend_t backend, int graph_sequences, size_t targets_per_example, bool keep_logits = false,
            const DpoConfig & dpo = {}, const PgConfig & pg = {});
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
    // pg: the log-probability of every target under the current weights, per example (π_old when
    // called before the first step); `progress(examples done, examples)` after each graph.
    std::vector<std::vector<float>> target_log_probs(const Dataset & data, const std::function<void(size_t, size_t)> & progress = {});
    // pg: the monitors of the graphs computed since the last call.
    PgStats take_pg_stats();

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
    double pg_coefficient(const Dataset & data, const Example & ex, const Target & tg, const StepTotals & totals) const;
    void record_pg_stats(const StepGraph & g);
    void build_optimizer_graphs();

    Model & model_;
    ggml_backend_t backend_;
    int graph_sequences_;
    int targets_per_graph_;
    bool keep_logits_;
    DpoConfig dpo_;
    PgConfig pg_;
    PgStats pg_stats_;
    std::vector<float> last_picked_;     // pg: log π − log π_old of each target slot of the last graph
    std::vector<float> slot_advantage_;  // pg: the advantage of each target slot of the last graph
    int last_real_rows_ = 0;             // logit rows of the last graph that are not padding
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
