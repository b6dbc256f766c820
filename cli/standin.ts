/**
 * `arbor standin`: build (or find cached) the stand-in model, a tiny qwen2 GGUF with Qwen3's real
 * tokenizer and chat template (train/standin-model.ts), and print its path.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { buildStandinModel, readStandinReport, STANDIN_BUILD_THREADS, STANDIN_MODEL_PATH, standinIsCurrent } from '../train/standin-model.ts';
import { createProgressBar } from './progress.ts';

export const STANDIN_HELP = `arbor standin — the stand-in model: a tiny qwen2 GGUF with Qwen3's real BPE vocabulary,
special tokens and chat template, trained briefly on GSM8K text (no download)

usage: arbor standin [--rebuild] [--threads N]
    Builds models/standin/qwen3-standin.gguf when it is missing or its
    recipe (train/standin-model.ts) or source files changed (about 3 minutes on 2 cores;
    deterministic: the same file every time), else reports the cached one. Prints the
    model's path on stdout; build facts go to stderr.
    --rebuild   build even when the cached model is current (e.g. after a trainer change)
    --threads   training threads            [${STANDIN_BUILD_THREADS}; the file does not depend on it]
`;

const optionsSchema = z.object({
  rebuild: z.boolean().default(false),
  threads: z.coerce.number().int().positive().optional(),
  help: z.boolean().optional(),
});

export async function standinCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { rebuild: { type: 'boolean' }, threads: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  });
  const options = optionsSchema.parse(values);
  if (options.help) {
    process.stdout.write(STANDIN_HELP);
    return 0;
  }
  if (!options.rebuild && (await standinIsCurrent())) {
    const report = await readStandinReport();
    if (report !== null) process.stderr.write(`cached (built in ${report.build.seconds.toFixed(0)} s, sha256 ${report.build.modelSha256})\n`);
    process.stdout.write(`${STANDIN_MODEL_PATH}\n`);
    return 0;
  }
  const bar = createProgressBar('train stand-in model');
  let report;
  try {
    ({ report } = await buildStandinModel({
      threads: options.threads,
      onProgress: (e) => {
        if (e.event === 'step') bar.update({ step: e.step, steps: e.steps, loss: e.loss, tokPerSec: e.tok_s, etaSec: e.eta_s });
      },
    }));
  } finally {
    bar.finish();
  }
  const { build } = report;
  process.stderr.write(
    `built in ${build.seconds.toFixed(0)} s (${build.examples} GSM8K texts, train loss ${build.trainLoss.toFixed(3)}, ` +
      `${Math.round(build.trainerTokensPerSecond)} tok/s), sha256 ${build.modelSha256}\n`,
  );
  process.stdout.write(`${STANDIN_MODEL_PATH}\n`);
  return 0;
}
