// arbor-trainer: trains llama-family GGUF models with ggml. See native/README.md.
#include "commands.h"

#include "ggml.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#ifdef __linux__
#include <csignal>
#include <sys/prctl.h>
#endif

#ifndef ARBOR_BUILD
#define ARBOR_BUILD "built without native/build.sh"
#endif

namespace {

const char * USAGE =
    "usage: arbor-trainer <command> [options]\n"
    "  init       write a fresh llama GGUF with a character vocabulary\n"
    "  train      train a GGUF (objectives sft | prm | lm | dpo) on .arbtok examples, or a LoRA adapter on a frozen one\n"
    "  gradcheck  compare analytic gradients with finite differences on a tiny model\n"
    "  diff       largest difference between the tensors of two GGUF files\n"
    "  quantize   write a GGUF with its matrices in another type (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32)\n"
    "  merge      write base + LoRA adapter as one GGUF\n"
    "  logprobs   next-token log-probabilities of the trainer's forward pass on one token sequence\n"
    "  gemm       FLOP/s of ggml's F32 matrix multiply here (the reference for model FLOP utilisation), or the trainer's\n"
    "  --version  what this build links (BLAS, CUDA library, ggml folder)\n"
    "options and formats: native/README.md\n";

// ggml reports its own warnings on stderr; keep only errors so progress stays readable.
void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

} // namespace

int main(int argc, char ** argv) {
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        // What native/build.sh linked: the BLAS of the CPU matrix products, the CUDA library, the ggml folder.
        printf("arbor-trainer (%s)\n", ARBOR_BUILD);
        return arbor::EXIT_OK;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? arbor::EXIT_BAD_INPUT : arbor::EXIT_OK;
    }
    ggml_log_set(quiet_log, nullptr);
#ifdef __linux__
    // Die with the process that spawned us: a worker killed with -9 must not leave a trainer
    // writing into the run directory while its retry resumes from the same checkpoint.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    const std::string command = argv[1];
    try {
        arbor::Args args(argc, argv, 2);
        if (command == "init") return arbor::cmd_init(args);
        if (command == "train") return arbor::cmd_train(args);
        if (command == "gradcheck") return arbor::cmd_gradcheck(args);
        if (command == "diff") return arbor::cmd_diff(args);
        if (command == "gemm") return arbor::cmd_gemm(args);
        if (command == "quantize") return arbor::cmd_quantize(args);
        if (command == "merge") return arbor::cmd_merge(args);
        if (command == "logprobs") return arbor::cmd_logprobs(args);
        throw arbor::InputError("unknown command '" + command + "'\n" + USAGE);
    } catch (const arbor::InputError & e) {
        fprintf(stderr, "arbor-trainer: error: %s\n", e.what());
        return arbor::EXIT_BAD_INPUT;
    } catch (const std::exception & e) {
        fprintf(stderr, "arbor-trainer: internal error: %s\n", e.what());
        return arbor::EXIT_INTERNAL;
    }
}
