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

namespace {

const char * USAGE =
    "usage: arbor-trainer <command> [options]\n"
    "  init       write a fresh llama GGUF with a character vocabulary\n"
    "  train      train a GGUF (objectives sft | prm | lm) on .arbtok examples\n"
    "  gradcheck  compare analytic gradients with finite differences on a tiny model\n"
    "  diff       largest difference between the tensors of two GGUF files\n"
    "options and formats: native/README.md\n";

// ggml reports its own warnings on stderr; keep only errors so progress stays readable.
void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

} // namespace

int main(int argc, char ** argv) {
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
        throw arbor::InputError("unknown command '" + command + "'\n" + USAGE);
    } catch (const arbor::InputError & e) {
        fprintf(stderr, "arbor-trainer: error: %s\n", e.what());
        return arbor::EXIT_BAD_INPUT;
    } catch (const std::exception & e) {
        fprintf(stderr, "arbor-trainer: internal error: %s\n", e.what());
        return arbor::EXIT_INTERNAL;
    }
}
