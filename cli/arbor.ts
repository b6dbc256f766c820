#!/usr/bin/env -S node --import tsx
/** `arbor`: the command line. Each command lives in its own module; this file only dispatches. */
import { z } from 'zod';
import { DamagedFileError } from '../activities/artifacts.ts';
import { DatabaseFileError, DatabaseVersionError } from '../store/errors.ts';
import { controlCommand } from './control.ts';
import { evalCommand } from './eval.ts';
import { gradeCommand } from './grade.ts';
import { inspectCommand } from './inspect.ts';
import { microCommand } from './micro.ts';
import { runCommand } from './run.ts';
import { standinCommand } from './standin.ts';
import { ioErrorMessage, UsageError } from './usage-error.ts';
import { versionCommand } from './version.ts';
import { workerCommand } from './worker.ts';

const HELP = `arbor — durable self-improvement for LLM reasoning (MCTS* + PRM + native fine-tuning)

usage: arbor <command> [options]     (arbor <command> --help for its options)

commands:
  run           start or continue a run (Temporal when available, else inline)   [--quick: a few minutes]
  worker        a Temporal worker for the inference / training / cpu task queues
  status        where a run stands, with its per-iteration table
  pause, resume pause a run between activities, let it go on
  stop          end a run after the current activity (\`arbor run\` continues it later)
  eval          held-out accuracy of a model on a task (and PRM quality with --prm)
  grade         grade a JSONL of {completion, answer} with a task's answer rules
  export        a run's data in TRL formats (SFT, DPO, PRM stepwise) and its trees, with lineage
  models        a run's models: lineage, hashes, training metrics
  tree          print one search tree
  lineage       where a training example came from (search, node, problem, models)
  report        the run's HTML report: learning curves, PRM quality, data, time per stage, lineage, tree explorer
  micro build   build the embedded micro model from scratch (offline, ~14 min on 2 cores)
  micro eval    held-out accuracy of a model on the arithmetic task, by level (number of operators)
  standin       build or find the stand-in model (tiny qwen2, Qwen3's real tokenizer); prints its path

arbor --version: Arbor's and node-llama-cpp's versions, the inference backend, the trainer's BLAS and CUDA build.
The native trainer itself: native/build/arbor-trainer --help (formats in native/README.md).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') return versionCommand();
  switch (command) {
    case 'run':
      return runCommand(rest);
    case 'worker':
      return workerCommand(rest);
    case 'status':
    case 'pause':
    case 'resume':
    case 'stop':
      return controlCommand(command, rest);
    case 'eval':
      return evalCommand(rest);
    case 'grade':
      return gradeCommand(rest);
    case 'export':
    case 'models':
    case 'tree':
    case 'lineage':
    case 'report':
      return inspectCommand(command, rest);
    case 'micro':
      return microCommand(rest);
    case 'standin':
      return standinCommand(rest);
  }
  process.stderr.write(`arbor: unknown command '${command}'\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Bad command-line input (exit 2) reads as one clear message; anything else is a failure (exit 1).
    if (error instanceof z.ZodError) {
      process.stderr.write(`arbor: invalid option:\n${z.prettifyError(error)}\n`);
      process.exitCode = 2;
    } else if (error instanceof UsageError || error instanceof DatabaseFileError || error instanceof DatabaseVersionError || error instanceof DamagedFileError) {
      // A damaged or too-new file is bad input too: its message names it.
      process.stderr.write(`arbor: ${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`arbor: ${error.message} (see --help)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`arbor: error: ${ioErrorMessage(error) ?? (error instanceof Error ? error.message : String(error))}\n`);
      process.exitCode = 1;
    }
  },
);
