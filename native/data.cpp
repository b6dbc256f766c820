#include "data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

namespace arbor {

namespace {

struct FileCloser {
    void operator()(FILE * f) const { if (f) fclose(f); }
};

template <typename T>
void read_exact(FILE * f, T * out, size_t count, const std::string & path, const std::string & what) {
    if (count == 0) return;
    if (fread(out, sizeof(T), count, f) != count) {
        throw InputError(path + ": truncated .arbtok file while reading " + what);
    }
}

template <typename T>
void shuffle(std::vector<T> & v, Rng & rng) {
    for (size_t i = v.size(); i > 1; i--) {
        std::swap(v[i - 1], v[rng.below(i)]);
    }
}

} // namespace

Dataset read_dataset(const std::string & path, int n_vocab, int n_ctx, DataKind kind) {
    std::unique_ptr<FILE, FileCloser> f(fopen(path.c_str(), "rb"));
    if (!f) throw InputError(path + ": cannot open training data");
    char magic[8];
    read_exact(f.get(), magic, 8, path, "the header");
    if (memcmp(magic, "ARBTOK01", 8) != 0) throw InputError(path + ": not an .arbtok file (bad magic)");
    uint32_t header[2];
    read_exact(f.get(), header, 2, path, "the header");
    Dataset data;
    data.path = path;
    if ((header[1] & ~ARBTOK_ADVANTAGES) != 0) throw InputError(path + ": unknown .arbtok flags " + std::to_string(header[1]));
    data.advantages = (header[1] & ARBTOK_ADVANTAGES) != 0;
    if (data.advantages != (kind == DataKind::advantages)) {
        throw InputError(path + (data.advantages ? ": examples carry advantages: train them with --objective pg"
                                                  : ": examples carry no advantages: --objective pg needs pg data (train/arbtok.ts)"));
    }
    data.examples.resize(header[0]);
    for (uint32_t i = 0; i < header[0]; i++) {
        const std::string where = path + ": example " + std::to_string(i + 1);
        uint32_t counts[2];
        read_exact(f.get(), counts, 2, path, "example " + std::to_string(i + 1));
        Example & ex = data.examples[i];
        if (counts[0] == 0) throw InputError(where + " has no tokens");
        if (static_cast<int64_t>(counts[0]) > n_ctx) {
            throw InputError(where + " has " + std::to_string(counts[0]) + " tokens, longer than the context of " +
                             std::to_string(n_ctx));
        }
        ex.tokens.resize(counts[0]);
        ex.targets.resize(counts[1]);
        read_exact(f.get(), ex.tokens.data(), counts[0], path, "example " + std::to_string(i + 1));
        static_assert(sizeof(Target) == 12, "Target must match the file layout");
        read_exact(f.get(), ex.targets.data(), counts[1], path, "example " + std::to_string(i + 1));
        if (data.advantages) {
            read_exact(f.get(), &ex.advantage, 1, path, "example " + std::to_string(i + 1));
            if (!std::isfinite(ex.advantage)) throw InputError(where + ": the advantage must be finite");
        }
        for (int32_t tok : ex.tokens) {
            if (tok < 0 || tok >= n_vocab) {
                throw InputError(where + ": token id " + std::to_string(tok) + " is outside the vocabulary (" +
                                 std::to_string(n_vocab) + " tokens)");
            }
        }
        for (const Target & t : ex.targets) {
            if (t.pos >= counts[0]) throw InputError(where + ": target position " + std::to_string(t.pos) + " is past the last token");
            if (t.token < 0 || t.token >= n_vocab) {
                throw InputError(where + ": target token " + std::to_string(t.token) + " is outside the vocabulary");
            }
            if (!std::isfinite(t.weight) || t.weight < 0) throw InputError(where + ": target weight must be finite and >= 0");
        }
        data.max_tokens = std::max<size_t>(data.max_tokens, counts[0]);
        data.max_targets = std::max<size_t>(data.max_targets, counts[1]);
        data.n_tokens += counts[0];
    }
    if (data.examples.empty()) throw InputError(path + ": no examples");
    if (fgetc(f.get()) != EOF) throw InputError(path + ": bytes after the last example");
    if (kind == DataKind::paired) {
        data.paired = true;
        if (data.examples.size() % 2 != 0) {
            throw InputError(path + ": " + std::to_string(data.examples.size()) + " examples: dpo data is pairs (chosen, rejected), an even count");
        }
        for (size_t i = 0; i < data.examples.size(); i++) {
            if (data.examples[i].targets.empty()) {
                throw InputError(path + ": example " + std::to_string(i + 1) + " (the " + (i % 2 == 0 ? "chosen" : "rejected") +
                                 " side of pair " + std::to_string(i / 2 + 1) + ") has no target tokens");
            }
        }
    }
    return data;
}

std::vector<size_t> unit_lengths(const Dataset & data) {
    std::vector<size_t> lengths;
    const size_t step = data.paired ? 2 : 1;
    for (size_t i = 0; i < data.examples.size(); i += step) {
        lengths.push_back(std::max(data.examples[i].tokens.size(), data.examples[i + step - 1].tokens.size()));
    }
    return lengths;
}

std::vector<uint32_t> examples_of(const Dataset & data, const std::vector<uint32_t> & units) {
    if (!data.paired) return units;
    std::vector<uint32_t> out;
    for (uint32_t p : units) {
        out.push_back(2 * p);
        out.push_back(2 * p + 1);
    }
    return out;
}

BatchSchedule::BatchSchedule(std::vector<size_t> lengths, int batch_size, uint64_t seed)
    : lengths_(std::move(lengths)), batch_size_(batch_size), seed_(seed),
      batches_per_epoch_((lengths_.size() + batch_size - 1) / batch_size) {}

void BatchSchedule::plan_epoch(uint64_t epoch) {
    Rng rng(seed_ * 0x9E3779B97F4A7C15ull + epoch + 1);
    const size_t n = lengths_.size();
    std::vector<uint32_t> order(n);
    for (size_t i = 0; i < n; i++) order[i] = static_cast<uint32_t>(i);
    shuffle(order, rng);
    for (size_t i = 0; order.size() % batch_size_ != 0; i++) order.push_back(order[i % n]);

    const size_t window = static_cast<size_t>(batch_size_) * 32;
    for (size_t start = 0; start < order.size(); start += window) {
        auto end = order.begin() + std::min(order.size(), start + window);
        std::stable_sort(order.begin() + start, end, [&](uint32_t a, uint32_t b) {
            return lengths_[a] < lengths_[b];
        });
    }
    epoch_batches_.clear();
    for (size_t start = 0; start < order.size(); start += batch_size_) {
        epoch_batches_.emplace_back(order.begin() + start, order.begin() + start + batch_size_);
    }
    shuffle(epoch_batches_, rng);
    planned_epoch_ = static_cast<int64_t>(epoch);
}

std::vector<uint32_t> BatchSchedule::batch(uint64_t index) {
    const uint64_t epoch = index / batches_per_epoch_;
    if (static_cast<int64_t>(epoch) != planned_epoch_) plan_epoch(epoch);
    return epoch_batches_[index % batches_per_epoch_];
}

} // namespace arbor
