// `train`: the optimisation loop — schedule, clipping, progress, validation, checkpoints, output.
#include "backend.h"
#include "commands.h"
#include "cpu_gemm.h"
#include "lora.h"
#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <thread>

namespace arbor {

namespace {

volatile std::sig_atomic_t g_stop_requested = 0;

void request_stop(int) { g_stop_requested = 1; }

double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss / 1024.0;  // Linux reports kilobytes
}

struct Schedule {
    double lr;
    double min_lr_ratio;
    int64_t warmup;
    int64_t total;

    // Linear warmup, then cosine from lr down to min_lr_ratio·lr; t is 1-based.
    double at(int64_t t) const {
        if (warmup > 0 && t <= warmup) return lr * static_cast<double>(t) / static_cast<double>(warmup);
        const double span = std::max<int64_t>(1, total - warmup);
        const double progress = std::min(1.0, static_cast<double>(t - warmup) / span);
        const double min_lr = lr * min_lr_ratio;
        return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
    }
};

double validation_loss(Trainer & trainer, const Dataset & val) {
    const int batch = trainer.graph_sequences();  // even for paired data: pairs stay together
    std::vector<uint32_t> all(val.examples.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = static_cast<uint32_t>(i);
    const StepTotals totals = totals_of(val, all);
    if (totals.empty()) return NAN;
    double loss = 0;
    for (size_t start = 0; start < all.size(); start += batch) {
        std::vector<uint32_t> chunk(all.begin() + start, all.begin() + std::min(all.size(), start + batch));
        loss += trainer.loss(val, chunk, totals);
    }
    return loss;
}

double mean(const std::vector<float> & values) {
    double sum = 0;
    for (float v : values) sum += v;
    return values.empty() ? NAN : sum / static_cast<double>(values.size());
}

std::string format_double(double x) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%.9g", x);
    return buf;
}

} // namespace

// Every flag of `train`, read and checked before anything is loaded (a bad value exits 2 at once).
// Defaults are the ones read_train_options gives (and native/README.md documents).
struct TrainOptions {
    std::string model_path, data_path, val_path, out_path, objective, parent, data_sha256, checkpoint_path, device;
    std::vector<std::string> backend_dirs;
    int batch, accum, threads;
    int ctx;  // 0: the model's context
    uint64_t seed;
    int64_t steps;  // 0: from --epochs
    double epochs;
    double lr, min_lr_ratio, clip;
    int64_t warmup;
    OptimizerConfig opt;
    LoraOptions lora;  // rank 0: full fine-tune
    DpoConfig dpo;
    PgConfig pg;
    int64_t checkpoint_every, eval_every, log_every;
    double logits_mb;
    bool resume;
};

TrainOptions read_train_options(const Args & args) {
    args.expect_only({"model", "data", "val", "out", "objective", "parent", "data-sha256", "steps", "epochs", "batch",
                      "accum", "lr", "min-lr-ratio", "warmup", "weight-decay", "clip", "beta1", "beta2", "seed",
                      "threads", "checkpoint", "checkpoint-every", "resume", "eval-every", "log-every", "backend-dir",
                      "device", "ctx", "lora-rank", "lora-alpha", "lora-targets", "lora-init", "dpo-beta",
                      "dpo-sft-weight", "logits-mb", "pg-epsilon-low", "pg-epsilon-high", "pg-kl-beta", "pg-aggregation"});
    TrainOptions o{};
    o.model_path = args.required("model");
    o.data_path = args.required("data");
    o.out_path = args.required("out");
    if (o.out_path == o.model_path) throw InputError("--out must differ from --model (the input model would be overwritten)");
    if (args.has("val")) o.val_path = args.required("val");
    o.objective = args.str("objective", "sft");
    if (o.objective != "sft" && o.objective != "prm" && o.objective != "lm" && o.objective != "dpo" && o.objective != "pg") {
        throw InputError("--objective must be sft, prm, lm, dpo or pg, got '" + o.objective + "'");
    }
    o.dpo.enabled = o.objective == "dpo";
    if (!o.dpo.enabled && (args.has("dpo-beta") || args.has("dpo-sft-weight"))) throw InputError("--dpo-beta and --dpo-sft-weight need --objective dpo");
    o.dpo.beta = static_cast<float>(args.number("dpo-beta", 0.1));
    o.dpo.sft_weight = static_cast<float>(args.number("dpo-sft-weight", 0.0));
    if (!(o.dpo.beta > 0)) throw InputError("--dpo-beta must be positive, got " + args.str("dpo-beta"));
    if (!(o.dpo.sft_weight >= 0)) throw InputError("--dpo-sft-weight must be at least 0, got " + args.str("dpo-sft-weight"));
    o.pg.enabled = o.objective == "pg";
    if (!o.pg.enabled && (args.has("pg-epsilon-low") || args.has("pg-epsilon-high") || args.has("pg-kl-beta") || args.has("pg-aggregation"))) {
        throw InputError("--pg-epsilon-low, --pg-epsilon-high, --pg-kl-beta and --pg-aggregation need --objective pg");
    }
    o.pg.epsilon_low = static_cast<float>(args.number("pg-epsilon-low", 0.2));
    o.pg.epsilon_high = static_cast<float>(args.number("pg-epsilon-high", 0.28));
    o.pg.kl_beta = static_cast<float>(args.number("pg-kl-beta", 0.0));
    if (!(o.pg.epsilon_low > 0 && o.pg.epsilon_low < 1)) throw InputError("--pg-epsilon-low must be in (0, 1), got " + args.str("pg-epsilon-low"));
    if (!(o.pg.epsilon_high > 0)) throw InputError("--pg-epsilon-high must be positive, got " + args.str("pg-epsilon-high"));
    if (!(o.pg.kl_beta >= 0)) throw InputError("--pg-kl-beta must be at least 0, got " + args.str("pg-kl-beta"));
    const std::string aggregation = args.str("pg-aggregation", "token-mean");
    if (aggregation == "token-mean") o.pg.aggregation = PgConfig::Aggregation::token_mean;
    else if (aggregation == "seq-mean") o.pg.aggregation = PgConfig::Aggregation::seq_mean;
    else if (aggregation == "constant") o.pg.aggregation = PgConfig::Aggregation::constant;
    else throw InputError("--pg-aggregation must be token-mean, seq-mean or constant, got '" + aggregation + "'");
    o.parent = args.str("parent", o.model_path);
    o.data_sha256 = args.str("data-sha256", "");
    o.batch = static_cast<int>(args.integer("batch", 16));
    o.accum = static_cast<int>(args.integer("accum", 1));
    if (o.batch <= 0 || o.accum <= 0) throw InputError("--batch and --accum must be positive");
    o.threads = static_cast<int>(args.integer("threads", std::max(1u, std::thread::hardware_concurrency())));
    if (o.threads <= 0) throw InputError("--threads must be positive");
    o.seed = static_cast<uint64_t>(args.integer("seed", 1));
    o.opt.beta1 = args.number("beta1", 0.9);
    o.opt.beta2 = args.number("beta2", 0.999);
    o.opt.weight_decay = args.number("weight-decay", 0.0);
    o.clip = args.number("clip", 1.0);
    if (!(o.opt.beta1 >= 0 && o.opt.beta1 < 1)) throw InputError("--beta1 must be in [0, 1), got " + format_double(o.opt.beta1));
    if (!(o.opt.beta2 >= 0 && o.opt.beta2 < 1)) throw InputError("--beta2 must be in [0, 1), got " + format_double(o.opt.beta2));
    if (!(o.opt.weight_decay >= 0)) throw InputError("--weight-decay must be at least 0, got " + format_double(o.opt.weight_decay));
    if (!(o.clip >= 0)) throw InputError("--clip must be at least 0 (0 = off), got " + format_double(o.clip));
    o.lr = args.number("lr", 1e-3);
    o.min_lr_ratio = args.number("min-lr-ratio", 0.1);
    o.warmup = args.integer("warmup", 0);
    if (!(o.lr > 0)) throw InputError("--lr must be positive, got " + format_double(o.lr));
    if (!(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1)) throw InputError("--min-lr-ratio must be in [0, 1], got " + format_double(o.min_lr_ratio));
    if (o.warmup < 0) throw InputError("--warmup must be at least 0, got " + std::to_string(o.warmup));
    o.steps = args.integer("steps", 0);
    if (args.has("steps") && o.steps <= 0) throw InputError("--steps must be positive, got " + std::to_string(o.steps));
    o.epochs = args.number("epochs", 1.0);
    if (o.epochs <= 0) throw InputError("--epochs must be positive");
    o.ctx = static_cast<int>(args.integer("ctx", 0));
    if (args.has("ctx") && o.ctx <= 0) throw InputError("--ctx must be positive");
    o.checkpoint_path = args.str("checkpoint", o.out_path + ".ckpt");
    o.checkpoint_every = args.integer("checkpoint-every", 0);
    o.eval_every = args.integer("eval-every", 0);
    o.log_every = std::max<int64_t>(1, args.integer("log-every", 10));
    o.resume = args.has("resume");
    o.backend_dirs = args.all("backend-dir");
    o.device = args.str("device", "auto");
    o.lora = read_lora_options(args);
    o.logits_mb = args.number("logits-mb", 512);
    if (!(o.logits_mb > 0)) throw InputError("--logits-mb must be positive, got " + args.str("logits-mb"));
    return o;
}

namespace {

std::string join(const std::vector<std::string> & items) {
    std::string out;
    for (const auto & item : items) out += (out.empty() ? "" : ",") + item;
    return out;
}

// The checkpoint key: a checkpoint only fits a run that would take the same path through the data.
std::string fingerprint_of(const TrainOptions & o, const Dataset & train, int64_t total_steps, int64_t params) {
    return "data=" + (o.data_sha256.empty() ? o.data_path : o.data_sha256) + ":" + std::to_string(train.examples.size()) +
           ";steps=" + std::to_string(total_steps) + ";batch=" + std::to_string(o.batch) + ";accum=" + std::to_string(o.accum) +
           ";lr=" + format_double(o.lr) + ";seed=" + std::to_string(o.seed) + ";params=" + std::to_string(params) +
           ";objective=" + o.objective +
           (o.dpo.enabled ? ";beta=" + format_double(o.dpo.beta) + ";sft_weight=" + format_double(o.dpo.sft_weight) : "") +
           (o.pg.enabled ? ";epsilon=" + format_double(o.pg.epsilon_low) + "," + format_double(o.pg.epsilon_high) + ";kl_beta=" +
                               format_double(o.pg.kl_beta) + ";aggregation=" + std::to_string(static_cast<int>(o.pg.aggregation)) : "") +
           (o.lora.rank > 0 ? ";lora_alpha=" + format_double(o.lora.alpha) + ";lora_targets=" + join(o.lora.targets) + ";lora_init=" + o.lora.init_path : "");
}

struct StepOutcome {
    double loss = 0;
    double grad_norm = 0;  // before clipping
    int64_t tokens = 0;    // real tokens trained (no padding)
};

// Sequences per graph: a whole micro-batch, unless its logits ([vocabulary, target rows] floats,
// several such tensors per step) would pass --logits-mb: then micro-batches are computed in parts
// whose gradients add up to the same step (a 152k vocabulary costs 0.6 MB per row).
int sequences_per_graph(const TrainOptions & o, const Dataset & train, const Dataset & val, int64_t n_vocab) {
    const int unit = o.dpo.enabled ? 2 : 1;
    const size_t rows = std::max(std::min(train.max_tokens, train.max_targets), std::min(val.max_tokens, val.max_targets));
    const double bytes_per_sequence = static_cast<double>(n_vocab) * sizeof(float) * static_cast<double>(std::max<size_t>(rows, 1));
    const int fit = static_cast<int>(std::min(1e9, o.logits_mb * 1e6 / bytes_per_sequence));
    return std::min(unit * o.batch, std::max(unit, fit / unit * unit));
}

// One optimizer step: accumulate every micro-batch's gradient (in parts of the trainer's graph
// size), clip, AdamW (t = step, 1-based).
StepOutcome train_step(Trainer & trainer, BatchSchedule & schedule, const Dataset & train, const TrainOptions & o, int64_t step, double lr) {
    std::vector<std::vector<uint32_t>> micro(o.accum);
    StepTotals totals;
    for (int a = 0; a < o.accum; a++) {
        micro[a] = examples_of(train, schedule.batch(static_cast<uint64_t>(step - 1) * o.accum + a));
        const StepTotals t = totals_of(train, micro[a]);
        totals.weight += t.weight;
        totals.pair_weight += t.pair_weight;
    }
    StepOutcome out;
    if (totals.empty()) return out;  // nothing to learn from: no update
    const size_t part = static_cast<size_t>(trainer.graph_sequences());
    for (const auto & mb : micro) {
        for (size_t first = 0; first < mb.size(); first += part) {
            const std::vector<uint32_t> piece(mb.begin() + first, mb.begin() + std::min(mb.size(), first + part));
            out.loss += trainer.accumulate(train, piece, totals);
        }
        for (uint32_t i : mb) out.tokens += static_cast<int64_t>(train.examples[i].tokens.size());
    }
    out.grad_norm = trainer.grad_norm();
    if (!std::isfinite(out.loss) || !std::isfinite(out.grad_norm)) {
        throw std::runtime_error("loss or gradient became non-finite at step " + std::to_string(step) + " (try a lower --lr)");
    }
    trainer.update(step, lr, o.clip > 0 && out.grad_norm > o.clip ? o.clip / out.grad_norm : 1.0, o.opt);
    return out;
}

// The final validation line: loss, and for dpo the held-out margin at the start and now.
double final_eval(Trainer & trainer, const Dataset & val, bool dpo, int64_t step) {
    const double val_loss = validation_loss(trainer, val);
    JsonLine eval("eval");
    eval.integer("step", step).num("val_loss", val_loss);
    if (dpo) eval.num("val_margin_start", mean(val.reference)).num("val_margin", mean(trainer.margins(val)));
    eval.emit();
    return val_loss;
}

// Progress lines of a reference pass over a set (a large set takes a while before step 1), every 5 s
// and at the end; `unit` names what is counted (pairs, examples).
std::function<void(size_t, size_t)> reference_progress(const char * set, const char * unit) {
    const auto t0 = std::chrono::steady_clock::now();
    return [=, last = 0.0](size_t done, size_t total) mutable {
        const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (done < total && now - last < 5.0) return;
        last = now;
        JsonLine("reference").str("set", set).integer("done", static_cast<int64_t>(done)).integer(unit, static_cast<int64_t>(total)).emit();
    };
}

void save_output(const Model & model, const TrainOptions & o, int64_t total_steps) {
    std::vector<std::pair<std::string, std::string>> lineage = {
        {"arbor.parent", o.parent}, {"arbor.objective", o.objective}, {"arbor.data_sha256", o.data_sha256}};
    if (o.lora.rank > 0) {
        // Absolute: the adapter may be used from another working directory.
        lineage.emplace_back("arbor.base", std::filesystem::absolute(o.model_path).lexically_normal().string());
        save_adapter(model, o.out_path, lineage, {{"arbor.steps", total_steps}});
    } else {
        save_model(model, o.out_path, lineage, {{"arbor.steps", total_steps}});
    }
}

} // namespace

int cmd_train(const Args & args) {
    const TrainOptions o = read_train_options(args);
    Backend be = init_backend(o.backend_dirs, o.device, o.threads);
    Model model;
    load_model(model, o.model_path, be.backend, /*frozen =*/ o.lora.rank > 0);
    if (o.lora.rank > 0) add_lora(model, o.lora, o.seed, be.backend);
    const int n_ctx = o.ctx == 0 ? model.hp.n_ctx : o.ctx;
    if (n_ctx > model.hp.n_ctx) {
        throw InputError("--ctx must be between 1 and the model's context (" + std::to_string(model.hp.n_ctx) + ")");
    }
    const DataKind kind = o.dpo.enabled ? DataKind::paired : o.pg.enabled ? DataKind::advantages : DataKind::plain;
    Dataset train = read_dataset(o.data_path, model.hp.n_vocab, n_ctx, kind);
    Dataset val;
    const bool has_val = !o.val_path.empty();
    if (has_val) val = read_dataset(o.val_path, model.hp.n_vocab, n_ctx, kind);

    // --batch counts units: examples, or pairs for dpo (two sequences each).
    BatchSchedule schedule(unit_lengths(train), o.batch, o.seed);
    const int64_t total_steps = o.steps > 0 ? o.steps : static_cast<int64_t>(std::ceil(o.epochs * schedule.batches_per_epoch() / o.accum));
    const Schedule lr{o.lr, o.min_lr_ratio, o.warmup, total_steps};
    const std::string fingerprint = fingerprint_of(o, train, total_steps, model.n_params());

    Trainer trainer(model, be.backend, sequences_per_graph(o, train, val, model.hp.n_vocab), std::max(train.max_targets, val.max_targets), false, o.dpo, o.pg);
    // The reference of dpo and π_old of pg are the model training starts from: its margins / target
    // log-probabilities, once, before any checkpoint is loaded (a resumed run keeps the same reference).
    if (o.dpo.enabled) {
        train.reference = trainer.margins(train, reference_progress("train", "pairs"));
        if (has_val) val.reference = trainer.margins(val, reference_progress("val", "pairs"));
    }
    double entropy_start = NAN;
    if (o.pg.enabled) {
        train.old_log_probs = trainer.target_log_probs(train, reference_progress("train", "examples"));
        entropy_start = trainer.take_pg_stats().mean_entropy();
        if (has_val) {
            val.old_log_probs = trainer.target_log_probs(val, reference_progress("val", "examples"));
            trainer.take_pg_stats();
        }
    }
    int64_t step = 0;
    const bool resumed = o.resume && std::ifstream(o.checkpoint_path).good();
    if (resumed) step = trainer.load_checkpoint(o.checkpoint_path, fingerprint);
    std::signal(SIGTERM, request_stop);
    std::signal(SIGINT, request_stop);

    JsonLine("start")
        .str("device", be.device_name).integer("threads", be.threads).integer("params", model.n_params())
        .integer("examples", static_cast<int64_t>(train.examples.size())).integer("steps", total_steps)
        .integer("start_step", step).boolean("resumed", resumed).str("objective", o.objective)
        .integer("lora_rank", o.lora.rank).str("gemm", be.is_gpu ? "backend" : cpu_gemm_name())
        .integer("graph_sequences", trainer.graph_sequences()).emit();

    const auto t0 = std::chrono::steady_clock::now();
    auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    const int64_t first_step = step;
    int64_t tokens = 0;
    double window_loss = 0, last_loss = NAN;
    int64_t window_steps = 0;
    PgStats window_pg, last_pg, run_pg;  // pg monitors: since the last step line, in the last window, over the run
    while (step < total_steps) {
        step++;
        const StepOutcome done = train_step(trainer, schedule, train, o, step, lr.at(step));
        tokens += done.tokens;
        window_loss += done.loss;
        window_steps++;
        last_loss = done.loss;
        if (o.pg.enabled) {
            const PgStats s = trainer.take_pg_stats();
            for (PgStats * sum : {&window_pg, &run_pg}) {
                sum->tokens += s.tokens;
                sum->clipped += s.clipped;
                sum->kl += s.kl;
                sum->rows += s.rows;
                sum->entropy += s.entropy;
            }
        }
        if (step % o.log_every == 0 || step == total_steps) {
            const double per_step = seconds() / static_cast<double>(step - first_step);
            JsonLine line("step");
            line.integer("step", step).integer("steps", total_steps).num("loss", window_loss / window_steps)
                .num("lr", lr.at(step)).num("grad_norm", done.grad_norm).num("tok_s", tokens / std::max(seconds(), 1e-9))
                .num("eta_s", per_step * static_cast<double>(total_steps - step));
            // The pg monitors of the steps since the last line (each measured before its step's update).
            if (o.pg.enabled) line.num("clip_frac", window_pg.clip_fraction()).num("kl", window_pg.mean_kl()).num("entropy", window_pg.mean_entropy());
            line.emit();
            window_loss = 0;
            window_steps = 0;
            last_pg = window_pg;
            window_pg = {};
        }
        if (step == total_steps) break;
        if (has_val && o.eval_every > 0 && step % o.eval_every == 0) {
            JsonLine("eval").integer("step", step).num("val_loss", validation_loss(trainer, val)).emit();
        }
        const bool stop = g_stop_requested != 0;
        if ((o.checkpoint_every > 0 && step % o.checkpoint_every == 0) || stop) {
            trainer.save_checkpoint(o.checkpoint_path, step, fingerprint);
            JsonLine("checkpoint").integer("step", step).str("path", o.checkpoint_path).emit();
        }
        if (stop) {
            JsonLine("interrupted").integer("step", step).str("checkpoint", o.checkpoint_path).emit();
            return EXIT_INTERRUPTED;
        }
    }

    // Throughput counts training time only, as the step lines do (not validation or saving).
    const double train_seconds = seconds();
    const double val_loss = has_val ? final_eval(trainer, val, o.dpo.enabled, step) : NAN;
    save_output(model, o, total_steps);
    std::remove(o.checkpoint_path.c_str());
    JsonLine done("done");
    done.integer("step", step).str("out", o.out_path).num("loss", last_loss).num("val_loss", val_loss)
        .num("tok_s", tokens / std::max(train_seconds, 1e-9)).num("seconds", seconds()).num("peak_rss_mb", peak_rss_mb());
    if (o.pg.enabled) {
        done.num("entropy_start", entropy_start).num("entropy", last_pg.mean_entropy()).num("kl", last_pg.mean_kl())
            .num("clip_frac", run_pg.clip_fraction());
    }
    done.emit();
    return EXIT_OK;
}

} // namespace arbor
