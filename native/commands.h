// The trainer's subcommands; each returns the process exit code.
#pragma once

#include "common.h"

namespace arbor {

int cmd_init(const Args & args);
int cmd_train(const Args & args);
int cmd_gradcheck(const Args & args);
int cmd_diff(const Args & args);
int cmd_gemm(const Args & args);
int cmd_quantize(const Args & args);
int cmd_merge(const Args & args);
int cmd_logprobs(const Args & args);

} // namespace arbor
