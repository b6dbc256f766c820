#include "backend.h"
#include "common.h"

#include <stdexcept>
#include <unistd.h>

#ifndef ARBOR_GGML_BIN_DIR
#define ARBOR_GGML_BIN_DIR ""
#endif
#ifndef ARBOR_GGML_CUDA_LIB
#define ARBOR_GGML_CUDA_LIB ""  // node-llama-cpp's CUDA package was not installed at build time
#endif

namespace arbor {

Backend init_backend(const std::vector<std::string> & dirs_in, const std::string & device, int threads) {
    std::vector<std::string> dirs = dirs_in;
    if (dirs.empty() && ARBOR_GGML_BIN_DIR[0] != '\0') dirs.push_back(ARBOR_GGML_BIN_DIR);
    // ggml_backend_load_all() only searches the executable's folder and the cwd: name the folders.
    for (const auto & dir : dirs) ggml_backend_load_all_from_path(dir.c_str());
    // Only the CUDA library from the CUDA package (its CPU variants duplicate ours). Without a GPU or
    // the CUDA runtime the load fails quietly and training stays on the CPU.
    const bool nvidia_driver = access("/proc/driver/nvidia/version", F_OK) == 0;
    if (device == "auto" && nvidia_driver && ARBOR_GGML_CUDA_LIB[0] != '\0') ggml_backend_load(ARBOR_GGML_CUDA_LIB);

    ggml_backend_dev_t chosen = nullptr;
    if (device == "auto") chosen = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
    else if (device != "cpu") throw InputError("--device must be auto or cpu, got '" + device + "'");
    if (!chosen) chosen = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!chosen) throw std::runtime_error("no ggml CPU backend found (searched the prebuilt folder; run npm install)");

    Backend b;
    b.backend = ggml_backend_dev_init(chosen, nullptr);
    if (!b.backend) throw std::runtime_error(std::string("cannot initialise backend ") + ggml_backend_dev_name(chosen));
    b.device_name = ggml_backend_dev_name(chosen);
    b.is_gpu = ggml_backend_dev_type(chosen) == GGML_BACKEND_DEVICE_TYPE_GPU;
    b.threads = threads;
    // The CPU backend defaults to 4 threads, ~10x slower than 2 on a 2-core machine: always set it.
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(chosen);
    auto set_threads = reinterpret_cast<ggml_backend_set_n_threads_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
    if (set_threads) set_threads(b.backend, threads);
    return b;
}

} // namespace arbor
