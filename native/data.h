// Tokenized training examples (.arbtok, see README.md) and the deterministic batch schedule.
#pragma once

#include "common.h"

#include <cstdint>
#include <string>
#include <vector>

namespace arbor {

struct Target {
    uint32_t pos;
    int32_t token;
    float weight;
};

struct Example {
    std::vector<int32_t> tokens;
    std::vector<Target> targets;
    float advantage = 0;  // pg: the signed advantage of the whole completion (file flag ARBTOK_ADVANTAGES)
};

// The .arbtok header's flags (the u32 after the example count): each example ends with an f32 advantage.
constexpr uint32_t ARBTOK_ADVANTAGES = 1;

// With `paired` (the dpo objective) examples 2p and 2p + 1 are pair p: the prompt with the chosen
// continuation, then with the rejected one; their targets mark the continuation's tokens.
struct Dataset {
    std::string path;
    std::vector<Example> examples;
    bool paired = false;
    std::vector<float> reference;  // paired: each pair's margin under the reference model (see Trainer::margins)
    bool advantages = false;       // examples carry advantages (the pg objective)
    std::vector<std::vector<float>> old_log_probs;  // pg: log π_old of every target, per example (Trainer::target_log_probs)
    size_t max_tokens = 0;
    size_t max_targets = 0;
    int64_t n_tokens = 0;
};

// What an objective needs of its data: pairs (dpo: an even number of examples, each with targets)
// or advantages (pg: the file's ARBTOK_ADVANTAGES flag, finite advantages).
enum class DataKind { plain, paired, advantages };

// Reads and validates a .arbtok file: token ids below n_vocab, positions inside the example,
// finite non-negative weights, no example longer than n_ctx, and what `kind` needs. Errors name the
// file and example.
Dataset read_dataset(const std::string & path, int n_vocab, int n_ctx, DataKind kind = DataKind::plain);

// The units batches are made of: examples, or pairs of a paired dataset (length: the longer one).
std::vector<size_t> unit_lengths(const Dataset & data);

// The example indices of a batch of units (a pair's two examples side by side).
std::vector<uint32_t> examples_of(const Dataset & data, const std::vector<uint32_t> & units);

// The order of micro-batches is a pure function of (seed, epoch): resuming needs only the step.
// Each epoch: seeded shuffle, then sort windows of 32 batches by length (less padding), then shuffle
// the batches. A short last batch is filled with units from the start of the epoch's order.
class BatchSchedule {
public:
    BatchSchedule(std::vector<size_t> lengths, int batch_size, uint64_t seed);
    size_t batches_per_epoch() const { return batches_per_epoch_; }
    // Unit indices of global micro-batch `index` (epoch = index / batches_per_epoch).
    std::vector<uint32_t> batch(uint64_t index);
private:
    void plan_epoch(uint64_t epoch);
    std::vector<size_t> lengths_;
    int batch_size_;
    uint64_t seed_;
    size_t batches_per_epoch_;
    int64_t planned_epoch_ = -1;
    std::vector<std::vector<uint32_t>> epoch_batches_;
};

} // namespace arbor
