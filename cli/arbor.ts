#!/usr/bin/env -S node --import tsx
/** `arbor`: the command line. Each command lives in its own module; this file only dispatches. */
import { z } from 'zod';
import { microCommand } from './micro.ts';

const HELP = `arbor — durable self-improvement for LLM reasoning (MCTS* + PRM + native fine-tuning)

usage: arbor <command> [options]     (arbor <command> --help for its options)

commands:
  micro build   build the embedded micro model from scratch (offline, ~10 min on 2 cores)
  micro eval    held-out accuracy of a model on the arithmetic task, by number of operators

The native trainer itself: native/build/arbor-trainer --help (formats in native/README.md).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === 'micro') return microCommand(rest);
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
    } else if (error instanceof Error && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`arbor: ${error.message} (see --help)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`arbor: error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
