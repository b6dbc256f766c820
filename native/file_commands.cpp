// Commands that only read or write GGUF files: init and diff.
#include "commands.h"
#include "model.h"

#include <cmath>
#include <fstream>
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

} // namespace arbor
