#include "common.h"

#include <cmath>
#include <cstdlib>

namespace arbor {

std::string json_escape(const std::string & s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out;
}

JsonLine::JsonLine(const char * event) : body_("{") {
    if (event) str("event", event);
}

JsonLine & JsonLine::num(const char * key, double value) {
    char buf[64];
    if (std::isfinite(value)) {
        snprintf(buf, sizeof(buf), "%.6g", value);
    } else {
        snprintf(buf, sizeof(buf), "null");
    }
    return raw(key, buf);
}

JsonLine & JsonLine::integer(const char * key, int64_t value) {
    return raw(key, std::to_string(value));
}

JsonLine & JsonLine::str(const char * key, const std::string & value) {
    return raw(key, "\"" + json_escape(value) + "\"");
}

JsonLine & JsonLine::boolean(const char * key, bool value) {
    return raw(key, value ? "true" : "false");
}

JsonLine & JsonLine::raw(const char * key, const std::string & json) {
    body_ += (empty_ ? "\"" : ",\"") + std::string(key) + "\":" + json;
    empty_ = false;
    return *this;
}

void JsonLine::emit() {
    std::string line = text() + "\n";
    fputs(line.c_str(), stdout);
    fflush(stdout);
}

uint64_t Rng::next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double Rng::uniform() {
    return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t Rng::below(uint64_t n) {
    return n == 0 ? 0 : next() % n;
}

float Rng::normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

Args::Args(int argc, char ** argv, int first) {
    for (int i = first; i < argc; i++) {
        std::string a = argv[i];
        if (a.rfind("--", 0) == 0) {
            std::string key = a.substr(2);
            std::string value;
            auto eq = key.find('=');
            if (eq != std::string::npos) {
                value = key.substr(eq + 1);
                key = key.substr(0, eq);
            } else if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
                value = argv[++i];
            }
            values_[key].push_back(value);
        } else {
            positional_.push_back(a);
        }
    }
}

bool Args::has(const std::string & key) const { return values_.count(key) > 0; }

std::string Args::str(const std::string & key, const std::string & fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? fallback : it->second.back();
}

std::string Args::required(const std::string & key) const {
    auto it = values_.find(key);
    if (it == values_.end() || it->second.back().empty()) {
        throw InputError("missing required option --" + key);
    }
    return it->second.back();
}

std::vector<std::string> Args::all(const std::string & key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::integer(const std::string & key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const std::string v = str(key);
    char * end = nullptr;
    long long n = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') throw InputError("--" + key + " expects an integer, got '" + v + "'");
    return n;
}

double Args::number(const std::string & key, double fallback) const {
    if (!has(key)) return fallback;
    const std::string v = str(key);
    char * end = nullptr;
    double n = strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') throw InputError("--" + key + " expects a number, got '" + v + "'");
    return n;
}

void Args::expect_only(const std::vector<std::string> & known) const {
    for (const auto & kv : values_) {
        bool ok = false;
        for (const auto & k : known) ok = ok || k == kv.first;
        if (!ok) throw InputError("unknown option --" + kv.first);
    }
}

} // namespace arbor
