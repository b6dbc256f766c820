// LoRA adapters on a frozen base: y = W·x + (alpha / rank)·B·(A·x), A and B trained in F32 while W
// stays in its own type (F32, F16, BF16 or quantized). Adapter files are the GGUF llama.cpp loads.
#pragma once

#include "model.h"

#include <map>
#include <string>
#include <vector>

namespace arbor {

// The matrices an adapter may target, by the short name of their GGUF tensors (blk.N.<name>.weight;
// `output` is the untied output matrix).
const std::vector<std::string> & lora_target_names();

struct LoraOptions {
    int rank = 0;                       // 0: no adapter (full fine-tune)
    float alpha = 0;                    // scale = alpha / rank
    std::vector<std::string> targets;   // short names from lora_target_names()
    std::string init_path;              // start from this adapter file's A and B
};

// Reads --lora-rank, --lora-alpha [= rank], --lora-targets [all layer matrices], or --lora-init FILE
// alone (continue that adapter: its rank, alpha and targets); errors (exit 2) name the flag.
LoraOptions read_lora_options(const Args & args);

// The options an adapter file was trained with, init_path set to it; `flag` names it in errors.
LoraOptions lora_options_of(const std::string & path, const std::string & flag);

// Adds trainable A (seeded, uniform ±1/√n_in) and B (zero) to every targeted weight of a model
// loaded frozen; they become model.params. With init_path, A and B are read from that adapter.
void add_lora(Model & model, const LoraOptions & options, uint64_t seed, ggml_backend_t backend);

// Writes model.lora as an adapter GGUF (general.type = adapter, adapter.lora.alpha as F32), plus `extra` keys.
void save_adapter(const Model & model, const std::string & out_path,
                  const std::vector<std::pair<std::string, std::string>> & extra_str,
                  const std::vector<std::pair<std::string, int64_t>> & extra_int);

// W·x for a weight of `model`, plus its adapter term when it has one. Non-F32 weights are widened to
// F32 first (get_rows of every row), so the product is exact float math on the stored weights.
ggml_tensor * lora_linear(ggml_context * ctx, const Model & model, ggml_tensor * w, ggml_tensor * x);

} // namespace arbor
