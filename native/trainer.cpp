#include "trainer.h"

#include "cpu_gemm.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace arbor {

namespace {

constexpr size_t GRAPH_SIZE = 32768;

// Sequence lengths are rounded up so a handful of static graphs serve every batch.
int bucket_length(size_t len, int n_ctx) {
    const size_t step = len <= 128 ? 16 : 64;
    const size_t rounded = std::max<size_t>(step, (len + step - 1) / step * step);
    return static_cast<int>(std::min<size_t>(rounded, static_cast<size_t>(n_ctx)));
}

// Tensor metadata (no data) for n_tensors tensors and `graphs` graphs of GRAPH_SIZE nodes.
ggml_context * new_meta_context(size_t n_tensors, int graphs) {
    ggml_init_params ip = {
        ggml_tensor_overhead() * n_tensors + graphs * ggml_graph_overhead_custom(GRAPH_SIZE, true), nullptr, /*no_alloc =*/ true};
    return ggml_init(ip);
}

// A frozen non-F32 weight is widened to F32 (get_rows of every row) where the forward pass multiplies
// by it; its backward product (an OUT_PROD) would keep that copy alive from the forward pass to the
// backward one, every layer's at once. Widening again right before each backward use lets the
// allocator free the forward copy at once: the peak holds one widened weight, not the whole model.
ggml_cgraph * widen_again_for_backward(ggml_context * ctx, ggml_cgraph * graph) {
    ggml_cgraph * out = ggml_new_graph_custom(ctx, ggml_graph_size(graph), false);
    for (int i = 0; i < ggml_graph_n_nodes(graph); i++) {
        ggml_tensor * node = ggml_graph_node(graph, i);
        ggml_tensor * w = node->src[0];
        if (node->op == GGML_OP_OUT_PROD && w && w->op == GGML_OP_GET_ROWS && w->src[0]->type != GGML_TYPE_F32) {
            node->src[0] = ggml_get_rows(ctx, w->src[0], w->src[1]);
        }
        ggml_build_forward_expand(out, node);  // a new source is placed right before its node
    }
    return out;
}

} // namespace

// Floats in the parameter tensor of ggml_opt_step_adamw (named in AdamwParams below).
constexpr int ADAMW_PARAMS = 7;

struct Trainer::StepGraph {
    ggml_context * ctx = nullptr;
    ggml_cgraph * forward = nullptr;
    ggml_cgraph * backward = nullptr;
    ForwardGraph fg;
    ggml_tensor * loss_grad = nullptr;
    ggml_tensor * logit_grad = nullptr;
    int T = 0;
    int rows = 0;  // logit rows: target positions at most
    ~StepGraph() {
        if (ctx) ggml_free(ctx);
    }
};

// An example's weight: every target of a row carries the row's weight (a pair's: its chosen side's).
double row_weight_of(const Dataset & data, uint32_t example) {
    const auto & targets = data.examples[example].targets;
    return targets.empty() ? 0.0 : targets.front().weight;
}

StepTotals totals_of(const Dataset & data, const std::vector<uint32_t> & examples) {
    StepTotals totals;
    for (uint32_t i : examples) {
        if (data.paired && i % 2 == 1) continue;  // the rejected side has no likelihood term
        for (const Target & t : data.examples[i].targets) totals.weight += t.weight;
        if (data.paired) totals.pair_weight += row_weight_of(data, i);
        totals.example_weight += row_weight_of(data, i);
    }
    return totals;
}

Trainer::Trainer(Model & model, ggml_backend_t backend, int graph_sequences, size_t targets_per_example, bool keep_logits,
                 const DpoConfig & dpo, const PgConfig & pg)
    : model_(model), backend_(backend), graph_sequences_(graph_sequences),
      targets_per_graph_(static_cast<int>(std::max<size_t>(1, targets_per_example) * graph_sequences)),
      keep_logits_(keep_logits), dpo_(dpo), pg_(pg) {
    const size_t n = model.params.size();
    grad_ctx_ = new_meta_context(n, 0);
    state_ctx_ = new_meta_context(2 * n + 3, 0);
    for (ggml_tensor * p : model.params) {
        ggml_tensor * g = ggml_dup_tensor(grad_ctx_, p);
        ggml_format_name(g, "grad.%s", p->name);
        grad_of_[p] = g;
        ggml_tensor * m = ggml_dup_tensor(state_ctx_, p);
        ggml_format_name(m, "adam_m.%s", p->name);
        m_of_[p] = m;
        ggml_tensor * v = ggml_dup_tensor(state_ctx_, p);
        ggml_format_name(v, "adam_v.%s", p->name);
        v_of_[p] = v;
    }
    adamw_decay_ = ggml_new_tensor_1d(state_ctx_, GGML_TYPE_F32, ADAMW_PARAMS);
    adamw_no_decay_ = ggml_new_tensor_1d(state_ctx_, GGML_TYPE_F32, ADAMW_PARAMS);
    grad_scale_ = ggml_new_tensor_1d(state_ctx_, GGML_TYPE_F32, 1);
    grad_buffer_ = ggml_backend_alloc_ctx_tensors(grad_ctx_, backend);
    state_buffer_ = ggml_backend_alloc_ctx_tensors(state_ctx_, backend);
    if (!grad_buffer_ || !state_buffer_) throw std::runtime_error("cannot allocate optimizer state");
    ggml_backend_buffer_clear(grad_buffer_, 0);
    ggml_backend_buffer_clear(state_buffer_, 0);
    build_optimizer_graphs();
}

Trainer::~Trainer() {
    graphs_.clear();
    if (graph_alloc_) ggml_gallocr_free(graph_alloc_);
    if (opt_alloc_) ggml_gallocr_free(opt_alloc_);
    if (norm_alloc_) ggml_gallocr_free(norm_alloc_);
    if (opt_ctx_) ggml_free(opt_ctx_);
    if (grad_buffer_) ggml_backend_buffer_free(grad_buffer_);
    if (state_buffer_) ggml_backend_buffer_free(state_buffer_);
    if (grad_ctx_) ggml_free(grad_ctx_);
    if (state_ctx_) ggml_free(state_ctx_);
}

void Trainer::build_optimizer_graphs() {
    opt_ctx_ = new_meta_context(8 * model_.params.size() + 16, 2);  // the norm and the update graphs
    norm_graph_ = ggml_new_graph_custom(opt_ctx_, GRAPH_SIZE, false);
    update_graph_ = ggml_new_graph_custom(opt_ctx_, GRAPH_SIZE, false);
    for (ggml_tensor * p : model_.params) {
        ggml_tensor * g = grad_of_[p];
        ggml_tensor * sq = ggml_sum(opt_ctx_, ggml_sqr(opt_ctx_, g));
        norm_sq_ = norm_sq_ ? ggml_add(opt_ctx_, norm_sq_, sq) : sq;
        ggml_tensor * scaled = ggml_mul_inplace(opt_ctx_, g, grad_scale_);
        ggml_tensor * params = ggml_n_dims(p) >= 2 ? adamw_decay_ : adamw_no_decay_;
        ggml_build_forward_expand(update_graph_, ggml_opt_step_adamw(opt_ctx_, p, scaled, m_of_[p], v_of_[p], params));
    }
    ggml_set_output(norm_sq_);
    ggml_build_forward_expand(norm_graph_, norm_sq_);
    ggml_backend_buffer_type_t buft = ggml_backend_get_default_buffer_type(backend_);
    norm_alloc_ = ggml_gallocr_new(buft);
    opt_alloc_ = ggml_gallocr_new(buft);
    if (!ggml_gallocr_alloc_graph(norm_alloc_, norm_graph_) || !ggml_gallocr_alloc_graph(opt_alloc_, update_graph_)) {
        throw std::runtime_error("cannot allocate the optimizer graphs");
    }
}

Trainer::StepGraph & Trainer::graph_for(int T) {
    auto it = graphs_.find(T);
    if (it != graphs_.end()) return *it->second;
    auto g = std::make_unique<StepGraph>();
    g->T = T;
    // Graphs: forward and backward, then the rewrites (widening again, matrix products, the loss-only forward).
    g->ctx = new_meta_context(GRAPH_SIZE * 2, 5);
    // Distinct target positions: at most one per target, at most one per position.
    g->rows = std::min(T * graph_sequences_, targets_per_graph_);
    // Targets index the logits as one flat I32 array of rows × vocabulary entries.
    if (static_cast<int64_t>(g->rows) * model_.hp.n_vocab >= INT32_MAX) {
        throw InputError("logits of " + std::to_string(g->rows) + " target positions × " + std::to_string(model_.hp.n_vocab) +
                         " tokens pass 2^31 entries: use shorter sequences or fewer targets per sequence");
    }
    LossOptions loss;
    loss.pairs = dpo_.enabled ? graph_sequences_ / 2 : 0;
    loss.dpo_beta = dpo_.beta;
    loss.pg = pg_.enabled;
    loss.pg_low = 1.0f - pg_.epsilon_low;
    loss.pg_high = 1.0f + pg_.epsilon_high;
    g->fg = build_forward(g->ctx, model_, T, graph_sequences_, g->rows, targets_per_graph_, loss);
    g->forward = ggml_new_graph_custom(g->ctx, GRAPH_SIZE, true);
    ggml_build_forward_expand(g->forward, g->fg.loss);
    if (g->fg.entropy) ggml_build_forward_expand(g->forward, g->fg.entropy);  // a monitor outside the loss
    g->backward = ggml_graph_dup(g->ctx, g->forward, true);
    // Parameters accumulate into our own buffers, so micro-batches add up and we zero them ourselves
    // (ggml_graph_reset would also zero AdamW moments if they lived in this graph).
    std::vector<ggml_tensor *> accs(ggml_graph_n_nodes(g->forward), nullptr);
    for (int i = 0; i < ggml_graph_n_nodes(g->forward); i++) {
        auto found = grad_of_.find(ggml_graph_node(g->forward, i));
        if (found != grad_of_.end()) accs[i] = found->second;
    }
    ggml_build_backward_expand(g->ctx, g->backward, accs.data());
    g->loss_grad = ggml_graph_get_grad(g->backward, g->fg.loss);
    if (keep_logits_) {
        g->logit_grad = ggml_graph_get_grad(g->backward, g->fg.logits);
        ggml_set_output(g->logit_grad);
        ggml_set_output(g->fg.logits);
    }
    if (model_.frozen) g->backward = widen_again_for_backward(g->ctx, g->backward);
    if (ggml_backend_dev_type(ggml_backend_get_device(backend_)) == GGML_BACKEND_DEVICE_TYPE_CPU) {
        g->backward = products_as_gemm(g->ctx, g->backward, {&g->fg.logits, &g->logit_grad, &g->fg.margin});
        // The forward nodes were rewritten too: the loss-only graph is the loss's new ancestry.
        g->forward = ggml_new_graph_custom(g->ctx, GRAPH_SIZE, false);
        ggml_build_forward_expand(g->forward, g->fg.loss);
        if (g->fg.entropy) ggml_build_forward_expand(g->forward, g->fg.entropy);
    }
    // One allocator for every length: memory for the longest graph, not for all of them at once.
    if (!graph_alloc_) graph_alloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend_));
    if (!ggml_gallocr_reserve(graph_alloc_, g->backward)) throw std::runtime_error("cannot allocate the training graph");
    // Every op must run on the chosen device: a silent CPU fallback is not available with one backend.
    for (int i = 0; i < ggml_graph_n_nodes(g->backward); i++) {
        ggml_tensor * node = ggml_graph_node(g->backward, i);
        if (!ggml_backend_supports_op(backend_, node)) {
            throw std::runtime_error(std::string("the backend does not support ") + ggml_op_desc(node) +
                                     " needed for training; use --device cpu");
        }
    }
    auto & ref = *g;
    graphs_[T] = std::move(g);
    return ref;
}

void Trainer::fill_inputs(StepGraph & g, const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals) {
    const int T = g.T;
    const int64_t V = model_.hp.n_vocab;
    std::vector<int32_t> tokens(static_cast<size_t>(T) * graph_sequences_, 0);
    std::vector<int32_t> index(targets_per_graph_, 0);
    std::vector<float> weight(targets_per_graph_, 0.0f);
    std::vector<int32_t> rows;
    std::unordered_map<int32_t, int32_t> row_of;  // position b*T + t -> its row in the logits
    const int P = dpo_.enabled ? graph_sequences_ / 2 : 0;
    std::vector<float> sign(static_cast<size_t>(targets_per_graph_) * P, 0.0f);
    std::vector<float> reference(P, 0.0f), pair_weight(P, 0.0f);
    const size_t pg_slots = pg_.enabled ? targets_per_graph_ : 0;
    std::vector<float> pg_positive(pg_slots, 0.0f), pg_negative(pg_slots, 0.0f), pg_old(pg_slots, 0.0f), pg_kl(pg_slots, 0.0f);
    slot_advantage_.clear();
    size_t k = 0;
    for (size_t b = 0; b < batch.size(); b++) {
        const Example & ex = data.examples[batch[b]];
        std::copy(ex.tokens.begin(), ex.tokens.end(), tokens.begin() + b * T);
        for (size_t j = 0; j < ex.targets.size(); j++) {
            const Target & tg = ex.targets[j];
            const int32_t position = static_cast<int32_t>(b * T + tg.pos);
            auto [it, added] = row_of.emplace(position, static_cast<int32_t>(rows.size()));
            if (added) rows.push_back(position);
            index[k] = static_cast<int32_t>(static_cast<int64_t>(it->second) * V + tg.token);
            if (pg_.enabled) {
                const double c = pg_coefficient(data, ex, tg, totals);
                pg_positive[k] = static_cast<float>(c * std::max(0.0f, ex.advantage));
                pg_negative[k] = static_cast<float>(c * std::min(0.0f, ex.advantage));
                pg_old[k] = data.old_log_probs.empty() ? 0.0f : data.old_log_probs[batch[b]][j];
                pg_kl[k] = static_cast<float>(pg_.kl_beta * c);
                slot_advantage_.push_back(ex.advantage);
            } else if (P == 0) {
                weight[k] = static_cast<float>(tg.weight / totals.weight);
            } else {
                const bool chosen = batch[b] % 2 == 0;
                weight[k] = chosen ? static_cast<float>(dpo_.sft_weight * tg.weight / totals.weight) : 0.0f;
                sign[static_cast<size_t>(b / 2) * targets_per_graph_ + k] = chosen ? 1.0f : -1.0f;
            }
            k++;
        }
        if (P > 0 && b % 2 == 0) {
            const uint32_t pair = batch[b] / 2;
            reference[b / 2] = data.reference.empty() ? 0.0f : data.reference[pair];
            pair_weight[b / 2] = static_cast<float>(row_weight_of(data, batch[b]) / totals.pair_weight);
        }
    }
    ggml_backend_tensor_set(g.fg.in.tokens, tokens.data(), 0, tokens.size() * sizeof(int32_t));
    set_attention_inputs(g.fg.in, T);
    last_rows_ = rows;
    last_rows_.resize(g.rows, -1);
    rows.resize(g.rows, 0);  // padding rows read position 0 and carry no target: zero gradient
    ggml_backend_tensor_set(g.fg.in.rows, rows.data(), 0, rows.size() * sizeof(int32_t));
    ggml_backend_tensor_set(g.fg.in.target_index, index.data(), 0, index.size() * sizeof(int32_t));
    last_real_rows_ = static_cast<int>(row_of.size());
    if (pg_.enabled) {
        // The pg loss reads no cross-entropy weights (the tensor is not in its graph).
        ggml_backend_tensor_set(g.fg.in.pg_positive, pg_positive.data(), 0, pg_slots * sizeof(float));
        ggml_backend_tensor_set(g.fg.in.pg_negative, pg_negative.data(), 0, pg_slots * sizeof(float));
        ggml_backend_tensor_set(g.fg.in.pg_old, pg_old.data(), 0, pg_slots * sizeof(float));
        ggml_backend_tensor_set(g.fg.in.pg_kl, pg_kl.data(), 0, pg_slots * sizeof(float));
    } else {
        ggml_backend_tensor_set(g.fg.in.target_weight, weight.data(), 0, weight.size() * sizeof(float));
    }
    if (P > 0) {
        ggml_backend_tensor_set(g.fg.in.pair_sign, sign.data(), 0, sign.size() * sizeof(float));
        ggml_backend_tensor_set(g.fg.in.ref_margin, reference.data(), 0, reference.size() * sizeof(float));
        ggml_backend_tensor_set(g.fg.in.pair_weight, pair_weight.data(), 0, pair_weight.size() * sizeof(float));
    }
    const float one = 1.0f;
    ggml_backend_tensor_set(g.loss_grad, &one, 0, sizeof(float));
}

double Trainer::evaluate(const Dataset & data, const std::vector<uint32_t> & batch, const StepTotals & totals, bool backward) {
    size_t longest = 0;
    for (uint32_t i : batch) longest = std::max(longest, data.examples[i].tokens.size());
    StepGraph & g = graph_for(bucket_length(longest, model_.hp.n_ctx));
    // Places this length's graph in the shared buffer (the backward graph holds the forward one).
    // gallocr keeps a tensor's old address if it has one, so every tensor of the graph's own context
    // (weights, gradients and optimizer state live in other contexts) forgets it first.
    if (last_graph_ != &g) {
        for (ggml_tensor * t = ggml_get_first_tensor(g.ctx); t; t = ggml_get_next_tensor(g.ctx, t)) {
            t->data = nullptr;
            t->buffer = nullptr;
        }
    }
    if (!ggml_gallocr_alloc_graph(graph_alloc_, g.backward)) throw std::runtime_error("cannot allocate the training graph");
    fill_inputs(g, data, batch, totals);
    if (ggml_backend_graph_compute(backend_, backward ? g.backward : g.forward) != GGML_STATUS_SUCCESS) {
        throw std::runtime_error(backward ? "backward pass failed" : "forward pass failed");
    }
    last_T_ = g.T;
    last_graph_ = &g;
    if (pg_.enabled) record_pg_stats(g);
    float loss = 0;
    ggml_backend_tensor_get(g.fg.loss, &loss, 0, sizeof(float));
    return loss;
}

// The slot's share of the step's loss: its target weight over what `aggregation` divides by.
double Trainer::pg_coefficient(const Dataset & data, const Example & ex, const Target & tg, const StepTotals & totals) const {
    switch (pg_.aggregation) {
        case PgConfig::Aggregation::token_mean:
            return tg.weight / totals.weight;
        case PgConfig::Aggregation::seq_mean:
            return tg.weight / (static_cast<double>(ex.targets.size()) * totals.example_weight);
        case PgConfig::Aggregation::constant:
            return tg.weight / (static_cast<double>(data.max_targets) * totals.example_weight);
    }
    return 0;
}

void Trainer::record_pg_stats(const StepGraph & g) {
    const size_t slots = slot_advantage_.size();
    std::vector<float> ratio(slots), entropy(static_cast<size_t>(last_real_rows_));
    if (slots > 0) ggml_backend_tensor_get(g.fg.ratio, ratio.data(), 0, slots * sizeof(float));
    if (!entropy.empty()) ggml_backend_tensor_get(g.fg.entropy, entropy.data(), 0, entropy.size() * sizeof(float));
    const float low = 1.0f - pg_.epsilon_low, high = 1.0f + pg_.epsilon_high;
    last_picked_.resize(slots);
    for (size_t k = 0; k < slots; k++) {
        const double d = std::log(static_cast<double>(ratio[k]));
        last_picked_[k] = static_cast<float>(d);  // log π − log π_old: log π itself while π_old is unset
        const float a = slot_advantage_[k];
        pg_stats_.tokens += 1;
        pg_stats_.clipped += (a > 0 && ratio[k] > high) || (a < 0 && ratio[k] < low) ? 1 : 0;
        pg_stats_.kl += ratio[k] - d - 1;
    }
    pg_stats_.rows += static_cast<double>(entropy.size());
    for (float e : entropy) pg_stats_.entropy += e;
}

PgStats Trainer::take_pg_stats() {
    const PgStats out = pg_stats_;
    pg_stats_ = {};
    return out;
}

std::vector<std::vector<float>> Trainer::target_log_probs(const Dataset & data, const std::function<void(size_t, size_t)> & progress) {
    if (!data.old_log_probs.empty()) throw std::runtime_error("target_log_probs reads log π with π_old unset");
    std::vector<std::vector<float>> out;
    const uint32_t n = static_cast<uint32_t>(data.examples.size());
    const uint32_t per_graph = static_cast<uint32_t>(graph_sequences_);
    for (uint32_t first = 0; first < n; first += per_graph) {
        std::vector<uint32_t> batch;
        for (uint32_t i = first; i < std::min(n, first + per_graph); i++) batch.push_back(i);
        evaluate(data, batch, totals_of(data, batch), false);
        size_t k = 0;
        for (uint32_t i : batch) {
            const size_t count = data.examples[i].targets.size();
            out.emplace_back(last_picked_.begin() + static_cast<long>(k), last_picked_.begin() + static_cast<long>(k + count));
            k += count;
        }
        if (progress) progress(out.size(), n);
    }
    return out;
}

std::vector<float> Trainer::margins(const Dataset & data, const std::function<void(size_t, size_t)> & progress) {
    std::vector<float> out;
    const uint32_t pairs = static_cast<uint32_t>(data.examples.size() / 2);
    const uint32_t per_batch = static_cast<uint32_t>(graph_sequences_ / 2);
    for (uint32_t first = 0; first < pairs; first += per_batch) {
        std::vector<uint32_t> units;
        for (uint32_t p = first; p < std::min(pairs, first + per_batch); p++) units.push_back(p);
        const std::vector<uint32_t> batch = examples_of(data, units);
        evaluate(data, batch, totals_of(data, batch), false);
        std::vector<float> margin(per_batch);
        ggml_backend_tensor_get(last_graph_->fg.margin, margin.data(), 0, margin.size() * sizeof(float));
        out.insert(out.end(), margin.begin(), margin.begin() + static_cast<long>(units.size()));
        if (progress) progress(out.size(), pairs);
    }
    return out;
}

double Trainer::grad_norm() {
    if (ggml_backend_graph_compute(backend_, norm_graph_) != GGML_STATUS_SUCCESS) throw std::runtime_error("norm graph failed");
    float sq = 0;
    ggml_backend_tensor_get(norm_sq_, &sq, 0, sizeof(float));
    return std::sqrt(static_cast<double>(sq));
}

// The parameter tensor ggml_opt_step_adamw reads: these seven floats, in this order.
struct AdamwParams {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
    float beta1_correction;  // 1 / (1 − beta1^t)
    float beta2_correction;  // 1 / (1 − beta2^t)
};
static_assert(sizeof(AdamwParams) == ADAMW_PARAMS * sizeof(float), "ggml reads the AdamW parameters as a packed float array");

void Trainer::update(int64_t t, double lr, double grad_scale, const OptimizerConfig & opt) {
    const AdamwParams decay{
        static_cast<float>(lr),
        static_cast<float>(opt.beta1),
        static_cast<float>(opt.beta2),
        static_cast<float>(opt.eps),
        static_cast<float>(opt.weight_decay),
        static_cast<float>(1.0 / (1.0 - std::pow(opt.beta1, static_cast<double>(t)))),
        static_cast<float>(1.0 / (1.0 - std::pow(opt.beta2, static_cast<double>(t)))),
    };
    AdamwParams no_decay = decay;  // norms and biases
    no_decay.weight_decay = 0.0f;
    const float scale = static_cast<float>(grad_scale);
    ggml_backend_tensor_set(adamw_decay_, &decay, 0, sizeof(decay));
    ggml_backend_tensor_set(adamw_no_decay_, &no_decay, 0, sizeof(no_decay));
    ggml_backend_tensor_set(grad_scale_, &scale, 0, sizeof(float));
    if (ggml_backend_graph_compute(backend_, update_graph_) != GGML_STATUS_SUCCESS) throw std::runtime_error("optimizer step failed");
    zero_grads();
}

void Trainer::zero_grads() {
    ggml_backend_buffer_clear(grad_buffer_, 0);
}

std::vector<float> Trainer::gradient(const ggml_tensor * param) const {
    const ggml_tensor * g = grad_of_.at(param);
    std::vector<float> out(ggml_nelements(g));
    ggml_backend_tensor_get(g, out.data(), 0, ggml_nbytes(g));
    return out;
}

std::vector<float> Trainer::last_logits() const {
    const ggml_tensor * t = last_graph_->fg.logits;
    std::vector<float> out(ggml_nelements(t));
    ggml_backend_tensor_get(t, out.data(), 0, ggml_nbytes(t));
    return out;
}

std::vector<float> Trainer::last_logit_grads() const {
    const ggml_tensor * t = last_graph_->logit_grad;
    if (!t) throw std::runtime_error("logit gradients were not kept");
    std::vector<float> out(ggml_nelements(t));
    ggml_backend_tensor_get(t, out.data(), 0, ggml_nbytes(t));
    return out;
}

void Trainer::save_checkpoint(const std::string & path, int64_t step, const std::string & fingerprint) const {
    gguf_context * g = gguf_init_empty();
    gguf_set_val_i64(g, "arbor.checkpoint.step", step);
    gguf_set_val_str(g, "arbor.checkpoint.fingerprint", fingerprint.c_str());
    std::vector<const ggml_tensor *> tensors;
    for (ggml_tensor * p : model_.params) {
        for (const ggml_tensor * t : {p, m_of_.at(p), v_of_.at(p)}) tensors.push_back(t);
    }
    write_gguf_atomic(g, tensors, path);
    gguf_free(g);
}

int64_t Trainer::load_checkpoint(const std::string & path, const std::string & fingerprint) {
    const GgufReader file(path, "--checkpoint");
    const int64_t fp_id = gguf_find_key(file.gguf(), "arbor.checkpoint.fingerprint");
    const int64_t step_id = gguf_find_key(file.gguf(), "arbor.checkpoint.step");
    if (fp_id < 0 || step_id < 0) throw InputError(path + ": not an arbor checkpoint");
    const std::string had = gguf_get_val_str(file.gguf(), fp_id);
    if (fingerprint != had) {
        throw InputError(path + ": checkpoint was written by a run with other settings (" + had + "); now: " + fingerprint);
    }
    std::vector<uint8_t> bytes;
    for (ggml_tensor * p : model_.params) {
        for (ggml_tensor * t : {p, m_of_.at(p), v_of_.at(p)}) {
            const ggml_tensor * h = file.find(t->name);
            if (!h || ggml_nbytes(h) != ggml_nbytes(t)) throw InputError(path + ": checkpoint has no matching tensor " + std::string(t->name));
            file.read(h, bytes);
            ggml_backend_tensor_set(t, bytes.data(), 0, bytes.size());
        }
    }
    return gguf_get_val_i64(file.gguf(), step_id);
}

} // namespace arbor
