// Loads ggml backends from node-llama-cpp's prebuilt folders and picks the device to train on.
#pragma once

#include "ggml-backend.h"

#include <string>
#include <vector>

namespace arbor {

struct Backend {
    ggml_backend_t backend = nullptr;
    std::string device_name;
    bool is_gpu = false;
    int threads = 1;
};

// `dirs` are searched for backend libraries (every CPU variant; CUDA where its package is installed).
// device: "auto" (a GPU when one is usable, else CPU) or "cpu". Threads apply to the CPU backend.
Backend init_backend(const std::vector<std::string> & dirs, const std::string & device, int threads);

} // namespace arbor
