/**
 * bench/scale (`npm run bench:scale`): Arbor at a real size. A model of Qwen2.5-0.5B's exact shapes
 * (bench/half-b.ts: the Qwen tokenizer and chat template, random weights, Q8_0) runs one short GSM8K
 * iteration end to end with `arbor run --inline`: search, PRM scoring, data, LoRA training of the
 * policy and the PRM, evaluation, promotion. Random weights never answer, so the task's timing coin
 * (tasks/timing.ts) says which steps end a solution and which answers are right: **every accuracy
 * of this run is the coin's, for timing only**. Then llama.cpp's own `llama-batched-bench`, built
 * from the source node-llama-cpp bundles (bench/build-llama-tool.sh), decodes on the same GGUF with
 * the same threads, sequences and context: the ceiling Arbor's search is measured against, in the
 * same run. Prints minutes and tokens/s per stage, the process tree's peak RSS (overall and per
 * stage), bytes written per model, an extrapolation to a default GSM8K iteration, and
 *   RESULT prepare_min=… search_min=… data_min=… train_min=… eval_min=… total_min=… search_tok_s=… train_policy_tok_s=… train_prm_tok_s=…
 *          batched_tok_s=… profile_scoring_share=… search_vs_batched=… raw_vs_batched=… peak_rss_mb=… adapter_bytes=… full_model_bytes=… extrapolated_iteration_h=… gpu_name=…
 *
 *   npm run bench:scale -- [--threads N] [--sequences 4] [--problems 4] [--steps 6] [--gpu cuda]   (bench/gpu.sh: the GPU run)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Token } from 'node-llama-cpp';
import { z } from 'zod';
import { loadVocabulary } from '../engine/llama.ts';
import { LogProbScorer } from '../engine/log-probs.ts';
import { mapConcurrent } from '../engine/map-concurrent.ts';
import { enginePolicy } from '../engine/policy.ts';
import { createPromptBuilder, plainPrompt } from '../engine/prompt.ts';
import { samplingSchema, StepGenerator } from '../engine/step-generator.ts';
import { prmValue } from '../reward/value-functions.ts';
import { mctsSearch } from '../search/mcts.ts';
import { RunStore } from '../store/run-store.ts';
import { loadTask } from '../tasks/index.ts';
import { trainerBinaryPath } from '../train/trainer.ts';
import { runConfigSchema, type RunConfigInput } from '../workflows/config.ts';
import type { RunResult } from '../workflows/types.ts';
import { halfBModel } from './half-b.ts';
import { ensureBuilt, prebuiltDir } from './llama-tools.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: String(availableParallelism()) },
    sequences: { type: 'string', default: '4' },
    problems: { type: 'string', default: '4' },
    steps: { type: 'string', default: '6' },
    gpu: { type: 'string', default: 'cpu' },
  },
  strict: true,
});
const options = z
  .object({
    threads: z.coerce.number().int().positive(),
    sequences: z.coerce.number().int().positive(),
    problems: z.coerce.number().int().positive(),
    steps: z.coerce.number().int().positive(),
    gpu: z.enum(['cpu', 'cuda']),
  })
  .parse(values);

const DIR = resolve('runs/bench-scale');
const RUN_DIR = join(DIR, 'run');
const BATCHED_BIN = resolve(`native/build/llama-batched-bench${options.gpu === 'cuda' ? '-cuda' : ''}`);
/** A step of GSM8K text: the random model never writes the delimiter, so every step is this long. */
const STEP_TOKENS = 48;
const MAX_DEPTH = 6;

ensureBuilt(trainerBinaryPath(), 'native/build.sh');
ensureBuilt(BATCHED_BIN, 'bench/build-llama-tool.sh', 'batched-bench', ...(options.gpu === 'cuda' ? ['cuda'] : []));
const model = await halfBModel(join(DIR, 'model'));
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB; ${options.gpu === 'cpu' ? 'no GPU used' : `GPU ${gpuName()}`}`);
console.log(`model: ${model.path} (Qwen2.5-0.5B's shapes, random weights, Q8_0, ${mb(statSync(model.path).size)} MB; its F32 file: ${mb(model.f32Bytes)} MB)`);

// The run: one iteration, both models LoRA on the Q8_0 base, one decoder of `threads` threads with `sequences` sequences.
const settings = {
  name: 'bench-scale',
  runDir: RUN_DIR,
  iterations: 1,
  policy: { model: model.path },
  prm: { model: model.path },
  task: {
    kind: 'gsm8k',
    trainLevels: [3],
    evalLevels: [3],
    problemsPerIteration: options.problems,
    evalProblemsPerLevel: options.problems,
    evalSearchProblemsPerLevel: 0,
    maxDepth: MAX_DEPTH,
    maxStepTokens: STEP_TOKENS,
    timingCoin: { answerShare: 0.25, correctShare: 0.3 },
  },
  search: { iterationsPerProblem: 4, shardSize: options.problems },
  train: {
    policy: { method: 'lora', epochs: 1, maxSteps: options.steps, batch: 4, lr: 1e-4, warmup: 0 },
    prm: { method: 'lora', epochs: 1, maxSteps: options.steps, batch: 4, lr: 1e-4, warmup: 0 },
  },
  threads: options.threads,
  sequences: options.sequences,
  engine: { gpu: options.gpu, decoders: 1 },
} satisfies RunConfigInput;
const config = runConfigSchema.parse(settings);
await rm(RUN_DIR, { recursive: true, force: true });
await mkdir(RUN_DIR, { recursive: true });
const configFile = join(DIR, 'run-config.json');
await writeFile(configFile, JSON.stringify(settings, null, 2));

console.log(`arbor run: ${options.problems} GSM8K problems, ${config.search.iterationsPerProblem} MCTS* iterations each, ${options.steps} LoRA steps per model, ${options.threads} threads, ${options.sequences} sequences (timing coin: accuracies are not the model's)`);
const started = Date.now();
const samples: { at: number; rssMb: number }[] = [];
const code = await new Promise<number | null>((done) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', configFile, '--inline'], { stdio: 'inherit' });
  const timer = setInterval(() => {
    if (child.pid !== undefined) samples.push({ at: Date.now(), rssMb: treeRssMb(child.pid) });
  }, 250);
  child.on('exit', (exitCode) => {
    clearInterval(timer);
    done(exitCode);
  });
});
const totalMinutes = (Date.now() - started) / 60_000;
if (code !== 0) throw new Error(`arbor run ${configFile} exited with ${code}`);
const result = JSON.parse(readFileSync(join(RUN_DIR, 'report.json'), 'utf8')) as RunResult;
const iteration = result.iterations.find((record) => record.iteration === 1) ?? assert.fail('the run has no iteration 1');

// Time per stage: the union of each activity's attempts (shards and the two trainings run side by side).
const store = RunStore.open(join(RUN_DIR, 'arbor.db'), { readonly: true }) ?? assert.fail(`${RUN_DIR} holds no run`);
const stages = new Map<string, { minutes: number; peakRssMb: number }>();
const models = store.models();
try {
  const attempts = store.activityAttempts().filter((attempt) => attempt.ended_at !== null);
  for (const activity of new Set(attempts.map((attempt) => attempt.activity))) {
    const spans = attempts.filter((attempt) => attempt.activity === activity).map((attempt) => [Date.parse(attempt.started_at), Date.parse(attempt.ended_at ?? attempt.started_at)] as const);
    const peak = Math.max(0, ...samples.filter((sample) => spans.some(([from, to]) => sample.at >= from && sample.at <= to)).map((sample) => sample.rssMb));
    stages.set(activity, { minutes: unionMs(spans) / 60_000, peakRssMb: peak });
  }
} finally {
  store.close();
}
const stage = (activity: string): { minutes: number; peakRssMb: number } => stages.get(activity) ?? { minutes: NaN, peakRssMb: NaN };
const trained = (kind: 'policy' | 'prm') => {
  const row = models.find((candidate) => candidate.kind === kind && candidate.iteration === 1) ?? assert.fail(`no trained ${kind}`);
  return { bytes: statSync(row.path).size, metrics: z.looseObject({ tok_s: z.number(), steps: z.number(), examples: z.number(), tokens: z.number() }).parse(JSON.parse(row.metrics_json)) };
};
const policy = trained('policy');
const prm = trained('prm');
const generated = iteration.training.generated_tokens ?? 0;
const search = stage('searchShard');
const searchTokS = generated / (search.minutes * 60);
for (const [activity, { minutes, peakRssMb }] of stages) console.log(`  ${activity.padEnd(16)} ${minutes.toFixed(2)} min, peak RSS ${peakRssMb > 0 ? `${peakRssMb.toFixed(0)} MB` : '— (shorter than a sample)'}`);
console.log(`search: ${iteration.training.searches ?? 0} searches, ${generated} generated tokens, ${searchTokS.toFixed(1)} generated tok/s (PRM scoring included)`);
console.log(`training (LoRA, policy and PRM side by side): policy ${policy.metrics.tok_s.toFixed(1)} tok/s over ${policy.metrics.steps} steps (${policy.metrics.examples} examples), PRM ${prm.metrics.tok_s.toFixed(1)} tok/s over ${prm.metrics.steps} steps (${prm.metrics.examples} examples)`);
console.log(`written per model: policy adapter ${mb(policy.bytes)} MB, PRM adapter ${mb(prm.bytes)} MB; a full fine-tune writes ${mb(model.f32Bytes)} MB (F32) per model`);
const peakRssMb = Math.max(0, ...samples.map((sample) => sample.rssMb));

// The engine's ceiling: llama-batched-bench at the search's shape, Arbor's own engine generating
// straight on as many sequences, and MCTS* again with its time split between generation and PRM scoring.
const task = loadTask(config.task);
const problems = task.sample('train', { seed: 1, level: 3, count: Math.max(options.problems, options.sequences) });
const prompt = createPromptBuilder(await loadVocabulary(model.path, config.engine), task.prompt, task.delimiter);
const promptTokens = Math.round(problems.reduce((sum, problem) => sum + prompt.tokens(problem.question, []).length, 0) / problems.length);
const context = task.contextSize * options.sequences;
const batched = batchedBench(promptTokens, STEP_TOKENS * MAX_DEPTH, context);
const raw = await rawGeneration(STEP_TOKENS * MAX_DEPTH);
const profile = await profileSearch();
console.log(`llama-batched-bench (-npp ${promptTokens} -ntg ${STEP_TOKENS * MAX_DEPTH} -npl ${options.sequences} -c ${context} -t ${options.threads}): ${batched.toFixed(1)} generation tok/s; Arbor's engine generating straight: ${raw.toFixed(1)} tok/s (prompts included); Arbor's MCTS*: ${searchTokS.toFixed(1)} tok/s in the run`);
console.log(
  `where MCTS*'s time goes (${options.problems} problems again, ${profile.tokS.toFixed(1)} generated tok/s): policy generating ${(profile.generation * 100).toFixed(0)}% of the wall time, ` +
    `PRM scoring ${(profile.scoring * 100).toFixed(0)}%, both at once ${(profile.overlap * 100).toFixed(0)}%, neither (tree work, prompts) ${(profile.idle * 100).toFixed(0)}%`,
);

// A default GSM8K iteration at the measured rates: search per MCTS* iteration per problem, training per optimizer step at the default batch, evaluation per problem.
const defaults = runConfigSchema.parse({ name: 'default', task: { kind: 'gsm8k' } });
const defaultTask = loadTask(defaults.task);
const evalProblems = defaultTask.levels('test').reduce((sum, level) => sum + Math.min(defaults.task.evalProblemsPerLevel, defaultTask.count('test', level)), 0);
const searchHours = ((search.minutes / (options.problems * config.search.iterationsPerProblem)) * defaults.task.problemsPerIteration * defaults.search.iterationsPerProblem) / 60;
// Training: the default's optimizer steps at its batch, of examples as long as these, at the tok/s measured
// with both trainings side by side as the pipeline runs them (steps are a cap, the rates contended: an upper bound).
const trainHours = Math.max(
  ...(['policy', 'prm'] as const).map((kind) => {
    const { metrics } = kind === 'policy' ? policy : prm;
    const settings = defaults.train[kind];
    return (settings.maxSteps * settings.batch * (metrics.tokens / metrics.examples)) / metrics.tok_s / 3600;
  }),
);
const evalHours = ((stage('evaluateModels').minutes / options.problems) * evalProblems) / 60;
const extrapolated = searchHours + trainHours + evalHours;
console.log(
  `extrapolated default GSM8K iteration at these rates (${defaults.task.problemsPerIteration} problems × ${defaults.search.iterationsPerProblem} MCTS* iterations, ` +
    `up to ${defaults.train.policy.maxSteps} + ${defaults.train.prm.maxSteps} optimizer steps, ${evalProblems} held-out problems): ` +
    `search ${searchHours.toFixed(1)} h + training ≤ ${trainHours.toFixed(1)} h + evaluation ${evalHours.toFixed(1)} h = ${extrapolated.toFixed(1)} h`,
);
console.log(
  `RESULT prepare_min=${stage('prepareRun').minutes.toFixed(2)} search_min=${search.minutes.toFixed(2)} data_min=${stage('buildData').minutes.toFixed(2)} train_min=${stage('trainModel').minutes.toFixed(2)} eval_min=${stage('evaluateModels').minutes.toFixed(2)} ` +
    `total_min=${totalMinutes.toFixed(2)} search_tok_s=${searchTokS.toFixed(1)} train_policy_tok_s=${policy.metrics.tok_s.toFixed(1)} train_prm_tok_s=${prm.metrics.tok_s.toFixed(1)} ` +
    `batched_tok_s=${batched.toFixed(1)} profile_scoring_share=${profile.scoring.toFixed(3)} search_vs_batched=${(searchTokS / batched).toFixed(3)} raw_vs_batched=${(raw / batched).toFixed(3)} peak_rss_mb=${peakRssMb.toFixed(0)} ` +
    `adapter_bytes=${policy.bytes} full_model_bytes=${model.f32Bytes} extrapolated_iteration_h=${extrapolated.toFixed(1)} gpu_name=${gpuName()}`,
);

/** The card's name (RESULT has no spaces in values), or cpu. */
function gpuName(): string {
  if (options.gpu === 'cpu') return 'cpu';
  const query = spawnSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8' });
  return query.status === 0 ? query.stdout.trim().split('\n')[0]?.replaceAll(' ', '_') ?? 'unknown' : 'unknown';
}

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

/** Resident memory of a process and all its descendants (Linux /proc), in MB; NaN elsewhere. */
function treeRssMb(root: number): number {
  const parents = new Map<number, number>();
  const rss = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return NaN;
  }
  for (const entry of entries) {
    try {
      // Fields after the command (which may hold spaces) end at its closing parenthesis.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      rss.set(Number(entry), Number(fields[21]) * 4096);
    } catch {
      // The process ended while being read.
    }
  }
  let total = 0;
  for (const pid of rss.keys()) {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
      if (at === root) {
        total += rss.get(pid) ?? 0;
        break;
      }
    }
  }
  return total / 2 ** 20;
}

function unionMs(spans: readonly (readonly [number, number])[]): number {
  let total = 0;
  let end = -Infinity;
  for (const [from, to] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}

/** llama-batched-bench's generation tokens/s (S_TG) at `sequences` parallel sequences. */
function batchedBench(npp: number, ntg: number, context: number): number {
  const args = ['-m', model.path, '-c', String(context), '-b', '2048', '-ub', '512', '-npp', String(npp), '-ntg', String(ntg), '-npl', String(options.sequences), '-t', String(options.threads), '--output-format', 'jsonl', '-fa', config.engine.flashAttention ? 'on' : 'off', ...(options.gpu === 'cuda' ? ['-ngl', '99'] : ['-ngl', '0'])];
  const run = spawnSync(BATCHED_BIN, args, { cwd: prebuiltDir(options.gpu), encoding: 'utf8', maxBuffer: 1 << 26 });
  if (run.status !== 0) throw new Error(`llama-batched-bench ${args.join(' ')} failed (${run.status}): ${run.stderr.slice(-2000)}`);
  const line = run.stdout.split('\n').find((text) => text.startsWith('{')) ?? assert.fail(`llama-batched-bench printed no JSON line: ${run.stdout.slice(-2000)}`);
  return z.looseObject({ speed_tg: z.number() }).parse(JSON.parse(line)).speed_tg;
}

/** Arbor's engine generating `perSequence` tokens straight on each of `sequences` sequences (no search, no PRM). */
async function rawGeneration(perSequence: number): Promise<number> {
  const generator = await StepGenerator.create({ modelPath: model.path, threads: options.threads, sequences: options.sequences, contextSize: task.contextSize, delimiter: '\u0000', engine: config.engine });
  try {
    const sampling = samplingSchema.parse({ temperature: 1, maxStepTokens: perSequence });
    const start = performance.now();
    const counts = await Promise.all(
      problems.slice(0, options.sequences).map(async (problem, index) => {
        const tokens: Token[] = prompt.tokens(problem.question, []);
        const [step] = await generator.generateSteps(tokens, 1, { sampling, seed: index });
        return step?.generatedTokens ?? 0;
      }),
    );
    return counts.reduce((a, b) => a + b, 0) / ((performance.now() - start) / 1000);
  } finally {
    await generator.dispose();
  }
}

/** MCTS* as the run searches (data mode, the run's settings) on the base model and PRM, timing every policy and PRM call. */
async function profileSearch(): Promise<{ tokS: number; generation: number; scoring: number; overlap: number; idle: number }> {
  const engine = { threads: options.threads, sequences: options.sequences, contextSize: task.contextSize, engine: config.engine };
  const generator = await StepGenerator.create({ modelPath: model.path, delimiter: task.delimiter, ...engine });
  const scorer = await LogProbScorer.create({ modelPath: model.path, ...engine });
  try {
    const generation: [number, number][] = [];
    const scoring: [number, number][] = [];
    const timed = async <T>(spans: [number, number][], work: () => Promise<T>): Promise<T> => {
      const from = performance.now();
      try {
        return await work();
      } finally {
        spans.push([from, performance.now()]);
      }
    };
    const sampling = samplingSchema.parse({ temperature: config.search.temperature, maxStepTokens: task.maxStepTokens });
    let generated = 0;
    const start = performance.now();
    await mapConcurrent(problems.slice(0, options.problems), options.sequences, async (problem) => {
      const policy = enginePolicy({ generator, prompt, question: problem.question, sampling, seed: 1 });
      const value = prmValue(scorer, plainPrompt(task.prompt, problem.question));
      const outcome = await mctsSearch({
        question: problem.question,
        policy: { proposeSteps: (prefix, count, proposeOptions) => timed(generation, () => policy.proposeSteps(prefix, count, proposeOptions)) },
        value: { scorePrefixes: (prefixes) => timed(scoring, () => value.scorePrefixes(prefixes)) },
        reader: task,
        config: { ...config.search.mcts, mode: 'data', iterations: config.search.iterationsPerProblem, seed: 1, maxDepth: task.maxDepth(problem) },
      });
      generated += outcome.stats.generatedTokens;
    });
    const wall = performance.now() - start;
    const busy = { generation: unionMs(generation), scoring: unionMs(scoring), any: unionMs([...generation, ...scoring]) };
    const overlap = busy.generation + busy.scoring - busy.any;
    return { tokS: generated / (wall / 1000), generation: busy.generation / wall, scoring: busy.scoring / wall, overlap: overlap / wall, idle: (wall - busy.any) / wall };
  } finally {
    await generator.dispose();
    await scorer.dispose();
  }
}
