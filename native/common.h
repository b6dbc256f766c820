// Shared small pieces of the trainer: errors with exit codes, JSON-line output, a portable RNG.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <map>
#include <vector>

namespace arbor {

// Bad input from the user (exit code 2); the message names the input.
struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr int EXIT_OK = 0;
constexpr int EXIT_INTERNAL = 1;
constexpr int EXIT_BAD_INPUT = 2;
constexpr int EXIT_INTERRUPTED = 3;

std::string json_escape(const std::string & s);

// Builds one JSON object line, written to stdout and flushed (progress is read line by line).
class JsonLine {
public:
    // With an event: a progress line {"event":...}; without: a plain object to nest with raw().
    explicit JsonLine(const char * event = nullptr);
    JsonLine & num(const char * key, double value);
    JsonLine & integer(const char * key, int64_t value);
    JsonLine & str(const char * key, const std::string & value);
    JsonLine & boolean(const char * key, bool value);
    JsonLine & raw(const char * key, const std::string & json);
    void emit();
    std::string text() const { return body_ + "}"; }
private:
    std::string body_;
    bool empty_ = true;
};

// splitmix64: tiny, fully specified, so seeds give the same stream on every platform.
class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next();
    double uniform();              // [0, 1)
    uint64_t below(uint64_t n);    // [0, n)
    float normal();                // N(0, 1), Box-Muller
private:
    uint64_t state_;
};

// "--key value" / "--flag" command-line options; repeated keys keep every value.
class Args {
public:
    Args(int argc, char ** argv, int first);
    bool has(const std::string & key) const;
    std::string str(const std::string & key, const std::string & fallback = "") const;
    std::string required(const std::string & key) const;
    std::vector<std::string> all(const std::string & key) const;
    int64_t integer(const std::string & key, int64_t fallback) const;
    double number(const std::string & key, double fallback) const;
    // Throws InputError for options not in `known`, so typos do not pass silently.
    void expect_only(const std::vector<std::string> & known) const;
    const std::vector<std::string> & positional() const { return positional_; }
private:
    std::map<std::string, std::vector<std::string>> values_;
    std::vector<std::string> positional_;
};

} // namespace arbor
