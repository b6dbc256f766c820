// `gradcheck`: analytic gradients of the training graph against central finite differences, on a
// tiny random model, after one real optimizer step (so stale accumulators would show up).
#include "backend.h"
#include "commands.h"
#include "lora.h"
#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace arbor {

namespace {

constexpr int T = 8;
constexpr int B = 2;
constexpr int PROMPT = 3;           // sft: positions before this have no target (masked prompt)
constexpr int GOOD = 3, BAD = 4;    // prm label tokens
constexpr float PRM_VALUE = 0.3f;

// Random sequences with targets shaped like each objective.
Dataset make_dataset(const std::string & objective, int n_vocab, Rng & rng) {
    Dataset d;
    d.path = "gradcheck";
    for (int b = 0; b < B; b++) {
        Example ex;
        const int len = b == 0 ? T : T - 2;
        for (int t = 0; t < len; t++) ex.tokens.push_back(static_cast<int32_t>(3 + rng.below(n_vocab - 3)));
        for (int t = 0; t < len; t++) {
            const int32_t next = static_cast<int32_t>(3 + rng.below(n_vocab - 3));
            if (objective == "lm") {
                ex.targets.push_back({static_cast<uint32_t>(t), next, 1.0f});
            } else if (objective == "sft") {
                if (t >= PROMPT) ex.targets.push_back({static_cast<uint32_t>(t), next, b == 0 ? 1.0f : 0.5f});
            } else if (objective == "pg") {  // the first counts once, the second stands for two paths
                if (t >= PROMPT) ex.targets.push_back({static_cast<uint32_t>(t), next, b == 0 ? 1.0f : 2.0f});
            } else if (objective == "dpo") {  // one pair: the same prompt, two random continuations
                if (b == 1 && t < PROMPT) ex.tokens[t] = d.examples[0].tokens[t];
                if (t >= PROMPT) ex.targets.push_back({static_cast<uint32_t>(t), next, 1.0f});
            } else if (t == 3 || t == len - 1) {
                ex.targets.push_back({static_cast<uint32_t>(t), GOOD, PRM_VALUE});
                ex.targets.push_back({static_cast<uint32_t>(t), BAD, 1.0f - PRM_VALUE});
            }
        }
        ex.advantage = b == 0 ? 0.7f : -0.5f;
        d.max_tokens = std::max(d.max_tokens, ex.tokens.size());
        d.max_targets = std::max(d.max_targets, ex.targets.size());
        d.examples.push_back(ex);
    }
    return d;
}

void set_element(ggml_tensor * t, int64_t i, float value) {
    ggml_backend_tensor_set(t, &value, i * sizeof(float), sizeof(float));
}

float get_element(const ggml_tensor * t, int64_t i) {
    float v;
    ggml_backend_tensor_get(t, &v, i * sizeof(float), sizeof(float));
    return v;
}

} // namespace

int cmd_gradcheck(const Args & args) {
    args.expect_only({"objective", "kv-heads", "seed", "threads", "arch", "backend-dir", "lora-rank", "base-type", "pg-aggregation"});
    const std::string objective = args.str("objective", "sft");
    if (objective != "sft" && objective != "prm" && objective != "lm" && objective != "dpo" && objective != "pg") {
        throw InputError("--objective must be sft, prm, lm, dpo or pg");
    }
    // pg: tight clip bounds and a KL weight, so every branch of the loss is checked.
    PgConfig pg;
    if (objective == "pg") {
        pg.enabled = true;
        pg.kl_beta = 0.3f;
        const std::string aggregation = args.str("pg-aggregation", "token-mean");
        if (aggregation == "token-mean") pg.aggregation = PgConfig::Aggregation::token_mean;
        else if (aggregation == "seq-mean") pg.aggregation = PgConfig::Aggregation::seq_mean;
        else if (aggregation == "constant") pg.aggregation = PgConfig::Aggregation::constant;
        else throw InputError("--pg-aggregation must be token-mean, seq-mean or constant");
    } else if (args.has("pg-aggregation")) {
        throw InputError("--pg-aggregation needs --objective pg");
    }
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 1));
    Rng rng(seed);

    HParams hp;
    hp.arch = args.str("arch", "llama");
    hp.n_embd = 16;
    hp.n_layer = 2;
    hp.n_head = 4;
    hp.n_head_kv = static_cast<int>(args.integer("kv-heads", 2));
    hp.n_ff = 24;
    hp.n_ctx = 32;
    // A frozen base must be quantizable: k-quants need rows of 256 values.
    const int lora_rank = static_cast<int>(args.integer("lora-rank", 0));
    if (lora_rank > 0) {
        hp.n_embd = 256;
        hp.n_ff = 256;
    }
    const std::string path = "/tmp/arbor-gradcheck-" + std::to_string(getpid()) + ".gguf";
    init_model_file(path, hp, "abcdefghij", seed, "gradcheck");
    Backend be = init_backend(args.all("backend-dir"), "cpu", static_cast<int>(args.integer("threads", 1)));
    Model full;
    load_model(full, path, be.backend);
    // Larger random weights than a fresh init, so every path carries a gradient well above float noise
    // (0.4 at width 16, shrinking as 1/√width so activations keep their scale).
    const float matrix_std = 0.4f * std::sqrt(16.0f / static_cast<float>(hp.n_embd));
    auto randomize = [&](const Model & m) {
        for (ggml_tensor * p : m.params) {
            for (int64_t i = 0; i < ggml_nelements(p); i++) {
                set_element(p, i, ggml_n_dims(p) == 1 ? 1.0f + 0.2f * rng.normal() : matrix_std * rng.normal());
            }
        }
    };
    randomize(full);
    // With --lora-rank: those weights, converted to --base-type and frozen, under an adapter on every
    // target (B random too, so that A has a gradient); only A and B are checked.
    Model frozen;
    QuantizeCounts quantized;
    if (lora_rank > 0) {
        save_model(full, path, {}, {});
        const std::string base = path + ".base.gguf";
        quantized = quantize_model_file(path, base, args.str("base-type", "q8_0"));
        load_model(frozen, base, be.backend, /*frozen =*/ true);
        std::remove(base.c_str());
        LoraOptions lora;
        lora.rank = lora_rank;
        lora.alpha = static_cast<float>(2 * lora_rank);
        lora.targets = lora_target_names();
        add_lora(frozen, lora, seed, be.backend);
        randomize(frozen);
    } else if (args.has("base-type")) {
        throw InputError("--base-type needs --lora-rank (a full fine-tune trains F32 weights)");
    }
    std::remove(path.c_str());
    Model & model = lora_rank > 0 ? frozen : full;

    Dataset data = make_dataset(objective, model.hp.n_vocab, rng);
    std::vector<uint32_t> batch = {0, 1};
    // dpo: a reference margin off zero and an SFT term, so every part of the loss is checked.
    DpoConfig dpo;
    if (objective == "dpo") {
        data.paired = true;
        data.reference = {0.3f};
        dpo = {true, 0.5f, 0.5f};
    }
    const StepTotals totals = totals_of(data, batch);

    Trainer trainer(model, be.backend, B, data.max_targets, /*keep_logits =*/ true, dpo, pg);
    OptimizerConfig opt;
    opt.weight_decay = 0.01;
    trainer.accumulate(data, batch, totals);
    trainer.update(1, 1e-2, 1.0, opt);
    if (pg.enabled) {
        // π_old = the model after that step, moved by ±0.3 on two of every three targets: ρ starts at
        // e^∓0.3 there, outside the bounds (0.8, 1.28), so slots clipped and not, of both signs, occur.
        data.advantages = true;
        data.old_log_probs = trainer.target_log_probs(data);
        size_t slot = 0;
        for (auto & example : data.old_log_probs) {
            for (float & value : example) {
                const size_t phase = slot++ % 3;
                value += phase == 0 ? 0.0f : phase == 1 ? 0.3f : -0.3f;
            }
        }
        trainer.take_pg_stats();
    }
    const double loss = trainer.accumulate(data, batch, totals);

    // Logit gradients: padding rows (no target) must get exactly zero.
    const std::vector<float> logits = trainer.last_logits();
    const std::vector<float> dlogits = trainer.last_logit_grads();
    const int64_t V = model.hp.n_vocab;
    const int Tb = trainer.last_positions();
    const std::vector<int32_t> & rows = trainer.last_rows();
    std::vector<double> position_weight(static_cast<size_t>(Tb) * B, 0.0);
    for (int b = 0; b < B; b++) {
        for (const auto & t : data.examples[b].targets) position_weight[b * Tb + t.pos] += t.weight / totals.weight;
    }
    std::vector<double> row_weight(rows.size(), 0.0);
    for (size_t r = 0; r < rows.size(); r++) row_weight[r] = rows[r] < 0 ? 0.0 : position_weight[rows[r]];
    double masked_max = 0, target_min_row_max = INFINITY;
    for (size_t r = 0; r < row_weight.size(); r++) {
        double row_max = 0;
        for (int64_t j = 0; j < V; j++) row_max = std::max(row_max, std::fabs(static_cast<double>(dlogits[r * V + j])));
        if (row_weight[r] == 0) masked_max = std::max(masked_max, row_max);
        else target_min_row_max = std::min(target_min_row_max, row_max);
    }

    JsonLine line("gradcheck");
    line.str("objective", objective).str("arch", model.hp.arch).integer("kv_heads", model.hp.n_head_kv).integer("lora_rank", lora_rank)
        .str("base_type", lora_rank > 0 ? ggml_type_name(model.layers[0].wq->type) : "f32").integer("quantized_tensors", quantized.converted);
    if (objective == "prm") {
        // d loss / d logit_good = s·p_good − v·s at a marked row with total weight s.
        const size_t r = static_cast<size_t>(std::find(rows.begin(), rows.end(), 3) - rows.begin());  // example 0, position 3
        if (r == rows.size()) throw std::runtime_error("gradcheck: position 3 has no logit row");
        const float * row = &logits[r * V];
        const double mx = *std::max_element(row, row + V);
        double z = 0;
        for (int64_t j = 0; j < V; j++) z += std::exp(row[j] - mx);
        const double p_good = std::exp(row[GOOD] - mx) / z;
        const double s = row_weight[r];
        line.num("prm_value", PRM_VALUE).num("prm_p_good", p_good).num("prm_grad_good", dlogits[r * V + GOOD])
            .num("prm_expected_grad_good", s * p_good - PRM_VALUE * s);
    }

    if (objective == "dpo") {
        // The loss recomputed here from the logits: sft_weight · NLL(chosen) + softplus(−β·(margin − reference)).
        auto log_prob = [&](int b, const Target & t) {
            const size_t r = static_cast<size_t>(std::find(rows.begin(), rows.end(), b * Tb + static_cast<int>(t.pos)) - rows.begin());
            const float * row = &logits[r * V];
            const double mx = *std::max_element(row, row + V);
            double z = 0;
            for (int64_t j = 0; j < V; j++) z += std::exp(row[j] - mx);
            return row[t.token] - mx - std::log(z);
        };
        double chosen = 0, rejected = 0;
        for (const auto & t : data.examples[0].targets) chosen += log_prob(0, t);
        for (const auto & t : data.examples[1].targets) rejected += log_prob(1, t);
        const double margin = chosen - rejected;
        const double z = dpo.beta * (margin - data.reference[0]);
        const double expected = dpo.sft_weight * -chosen / totals.weight + std::log1p(std::exp(-z));
        line.num("dpo_loss", loss).num("dpo_expected_loss", expected).num("dpo_margin", trainer.margins(data)[0])
            .num("dpo_expected_margin", margin);
    }

    if (objective == "pg") {
        // The loss recomputed here from the logits, aggregation included.
        const double low = 1.0 - pg.epsilon_low, high = 1.0 + pg.epsilon_high;
        double expected = 0;
        int clipped = 0, slots = 0;
        for (int b = 0; b < B; b++) {
            const Example & ex = data.examples[b];
            for (size_t j = 0; j < ex.targets.size(); j++) {
                const Target & t = ex.targets[j];
                const size_t r = static_cast<size_t>(std::find(rows.begin(), rows.end(), b * Tb + static_cast<int>(t.pos)) - rows.begin());
                const float * row = &logits[r * V];
                const double mx = *std::max_element(row, row + V);
                double z = 0;
                for (int64_t v = 0; v < V; v++) z += std::exp(row[v] - mx);
                const double d = (row[t.token] - mx - std::log(z)) - data.old_log_probs[b][j];
                const double rho = std::exp(d), a = ex.advantage;
                const double c = pg.aggregation == PgConfig::Aggregation::token_mean ? t.weight / totals.weight
                               : pg.aggregation == PgConfig::Aggregation::seq_mean   ? t.weight / (ex.targets.size() * totals.example_weight)
                                                                                     : t.weight / (data.max_targets * totals.example_weight);
                expected += -c * std::min(rho * a, std::clamp(rho, low, high) * a) + pg.kl_beta * c * (rho - d - 1);
                clipped += (a > 0 && rho > high) || (a < 0 && rho < low);
                slots++;
            }
        }
        line.num("pg_loss", loss).num("pg_expected_loss", expected).integer("pg_clipped", clipped).integer("pg_slots", slots);
    }

    // Finite differences on the largest-gradient element and a few random ones of every tensor.
    const float h = 5e-3f;
    double worst_rel = 0;
    std::string tensors = "[";
    for (ggml_tensor * p : model.params) {
        const std::vector<float> grad = trainer.gradient(p);
        const int64_t n = static_cast<int64_t>(grad.size());
        std::vector<int64_t> picks = {static_cast<int64_t>(
            std::max_element(grad.begin(), grad.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); }) - grad.begin())};
        for (int i = 0; i < 3; i++) picks.push_back(static_cast<int64_t>(rng.below(n)));
        double rel = 0, abs_err = 0, grad_max = 0;
        for (float g : grad) grad_max = std::max(grad_max, std::fabs(static_cast<double>(g)));
        for (int64_t i : picks) {
            const float w0 = get_element(p, i);
            set_element(p, i, w0 + h);
            const double up = trainer.loss(data, batch, totals);
            set_element(p, i, w0 - h);
            const double down = trainer.loss(data, batch, totals);
            set_element(p, i, w0);
            const double numeric = (up - down) / (2.0 * h);
            const double err = std::fabs(numeric - grad[i]);
            abs_err = std::max(abs_err, err);
            // Relative error is meaningful only where the gradient rises above float noise.
            const double scale = std::max(std::fabs(numeric), std::fabs(static_cast<double>(grad[i])));
            if (scale > 1e-3) rel = std::max(rel, err / scale);
        }
        worst_rel = std::max(worst_rel, rel);
        if (tensors.size() > 1) tensors += ",";
        tensors += JsonLine().str("name", p->name).num("max_rel_err", rel).num("max_abs_err", abs_err)
                       .num("grad_abs_max", grad_max).text();
    }
    tensors += "]";
    line.num("max_rel_err", worst_rel).num("masked_logit_grad_max", masked_max)
        .num("target_logit_grad_min_row_max", target_min_row_max).raw("tensors", tensors).emit();
    return EXIT_OK;
}

} // namespace arbor
