/**
 * bench/loop (`npm run bench:loop`): does the loop make the model better, and which search × objective
 * pair makes it best at equal generated tokens per problem? Arms (each `arbor run --inline` from
 * scratch into runs/<name>-<arm>, fixed seeds, the default run config otherwise):
 *   mcts-sft   MCTS* search, SFT on the correct solutions
 *   mcts-tree  MCTS* search, tree advantages (TreeRL) by policy gradient
 *   bon-sft    best-of-N sampling at MCTS*'s generated tokens per problem, SFT
 *   bon-grpo   the same sampling, GRPO (group advantages)
 *   control    no loop: the base trained for as many optimizer steps as the default arm's final
 *              policy's lineage, with its settings, on the base's own gold data
 * `--arm A` runs one arm (best-of-N arms read MCTS*'s tokens per problem from runs/<name>-mcts-sft,
 * or `--tokens N`); each arm leaves runs/<name>-<arm>/arm.json. Without `--arm` every arm runs, one
 * at a time; then (or with `--assemble` alone) the arms found are put side by side. Every promoted
 * and refused candidate is also scored on `--fresh` test problems of the weak and next levels that
 * are not in the held-out set (no decision of a run saw them). The weak level is the fewest operators
 * at which the base's held-out greedy accuracy is below SOLVED. Last line:
 * RESULT weak_level=… base_weak=… final_weak=… control_weak=… bon_final_weak=… base_next=… final_next=… in_range_drop=… prm_auc=… sft_invalid=… minutes=… <arm>_weak=… <arm>_fresh=… …
 * (final_weak, minutes and the rest: the default arm, the one `npm start` runs).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { evaluateGreedy } from '../evaluate/greedy.ts';
import { freshProblems, heldOutProblems } from '../evaluate/held-out.ts';
import { RunStore } from '../store/run-store.ts';
import { loadTask, runLevels } from '../tasks/index.ts';
import { MICRO_RECIPE, microTrainingProblems, writeSolutionsJsonl } from '../train/micro-model.ts';
import { prepareTrainingData, runTrainer } from '../train/trainer.ts';
import { runConfigSchema, type RunConfigInput } from '../workflows/config.ts';
import type { RunResult } from '../workflows/types.ts';

// Well under in-range accuracy (the issue's weak level); 0.9 picked a level the base nearly solves (1 op, 86.7%).
const SOLVED = 0.75;
const ARMS = {
  'mcts-sft': { search: { algorithm: 'mcts' }, train: { policy: { objective: 'sft' } } },
  'mcts-tree': { search: { algorithm: 'mcts' }, train: { policy: { objective: 'tree' } } },
  'bon-sft': { search: { algorithm: 'best-of-n' }, train: { policy: { objective: 'sft' } } },
  'bon-grpo': { search: { algorithm: 'best-of-n' }, train: { policy: { objective: 'grpo' } } },
} satisfies Record<string, Partial<RunConfigInput>>;
type LoopArm = keyof typeof ARMS;
const ARM_NAMES = [...Object.keys(ARMS), 'control'] as (LoopArm | 'control')[];

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'bench-loop' },
    arm: { type: 'string' },
    assemble: { type: 'boolean', default: false },
    tokens: { type: 'string' },
    fresh: { type: 'string', default: '400' },
  },
  strict: true,
});
if (values.arm !== undefined && !(ARM_NAMES as string[]).includes(values.arm)) throw new Error(`--arm must be one of ${ARM_NAMES.join(', ')}, got '${values.arm}'`);
const freshCount = z.coerce.number().int().nonnegative().parse(values.fresh);
const config = runConfigSchema.parse({ name: values.name });
const task = loadTask(config.task);
const levels = runLevels(task, config.task).eval;
const armDir = (arm: string): string => join('runs', `${values.name}-${arm}`);
/** The arm `npm start` runs: the default config's search and objective. */
const defaultArm = (Object.entries(ARMS).find(([, arm]) => arm.search.algorithm === config.search.algorithm && arm.train.policy.objective === config.train.policy.objective)?.[0] ??
  assert.fail(`the default config (${config.search.algorithm} + ${config.train.policy.objective}) is no arm of bench:loop`)) as LoopArm;

/** What an arm leaves behind for the assembly. */
const ArmSummarySchema = z.strictObject({
  arm: z.string(),
  minutes: z.number(),
  searches: z.number(),
  generatedTokens: z.number(),
  tokensPerProblem: z.number(),
  /** Held-out accuracy by level of every candidate (iteration 0: the base), promoted or not, and its fresh weak/next accuracy. */
  iterations: z.array(
    z.strictObject({
      iteration: z.number(),
      accuracyByLevel: z.record(z.string(), z.number()),
      promoted: z.boolean(),
      fresh: z.record(z.string(), z.number()),
      nonzeroGradient: z.number().nullable(),
    }),
  ),
  /** The last promoted policy's iteration. */
  final: z.number(),
  prmAuc: z.number().nullable(),
  sftInvalid: z.number().nullable(),
  /** Optimizer steps of the final policy's lineage (the control trains as many). */
  steps: z.number(),
});
type ArmSummary = z.infer<typeof ArmSummarySchema>;

async function arborRun(args: string[], name: string): Promise<{ result: RunResult; minutes: number }> {
  const started = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', '--inline', '--name', name, ...args], { stdio: 'inherit' });
    child.on('exit', resolve);
  });
  const minutes = (performance.now() - started) / 60_000;
  if (code !== 0) throw new Error(`arbor run ${args.join(' ')} --name ${name} exited with ${code}`);
  return { result: JSON.parse(await readFile(join('runs', name, 'report.json'), 'utf8')) as RunResult, minutes };
}

const accuracyAt = (record: { accuracyByLevel: Record<string, number> }, level: number): number => record.accuracyByLevel[String(level)] ?? NaN;

/** The weak level and the one above it, from the base's held-out accuracy. */
function weakLevel(base: { accuracyByLevel: Record<string, number> }): number {
  const weak = levels.find((level) => accuracyAt(base, level) < SOLVED);
  if (weak === undefined) throw new Error(`the base solves every evaluated level (${levels.join(', ')}): no weak level`);
  return weak;
}

/** Greedy accuracy of a model on the fresh problems of `evaluated` levels. */
async function freshAccuracy(modelPath: string, evaluated: readonly number[]): Promise<Record<string, number>> {
  if (freshCount === 0) return {};
  const problems = evaluated.flatMap((level) => freshProblems(task, level, freshCount, config.task.evalProblemsPerLevel));
  const evaluation = await evaluateGreedy({ modelPath, task, problems, threads: config.threads, sequences: config.sequences });
  return Object.fromEntries(Object.entries(evaluation.byLevel).map(([level, tally]) => [level, tally.accuracy]));
}

/** Optimizer steps of a policy's lineage, from the run's model records. */
function lineageSteps(runDir: string, policyPath: string): number {
  const store = RunStore.open(join(runDir, 'arbor.db'), { readonly: true }) ?? assert.fail(`${runDir} holds no run`);
  try {
    let steps = 0;
    for (let id = store.modelIdByPath(policyPath); id !== null; ) {
      const model = store.model(id);
      steps += z.object({ steps: z.number().default(0) }).parse(JSON.parse(model.metrics_json)).steps;
      id = model.parent_id;
    }
    return steps;
  } finally {
    store.close();
  }
}

async function readArm(arm: string): Promise<ArmSummary | null> {
  const path = join(armDir(arm), 'arm.json');
  return existsSync(path) ? ArmSummarySchema.parse(JSON.parse(await readFile(path, 'utf8'))) : null;
}

async function runArm(arm: LoopArm): Promise<void> {
  const dir = armDir(arm);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // Every candidate's file is kept: each is scored on the fresh problems once the run ends.
  let settings: object = { ...ARMS[arm], retention: { candidates: 'all' } };
  if (ARMS[arm].search.algorithm === 'best-of-n') {
    const tokens = values.tokens === undefined ? (await readArm('mcts-sft'))?.tokensPerProblem : z.coerce.number().int().positive().parse(values.tokens);
    if (tokens === undefined) throw new Error(`${arm} spends MCTS*'s generated tokens per problem: run --arm mcts-sft first, or give --tokens N`);
    settings = { ...settings, search: { ...ARMS[arm].search, bestOfNTokens: tokens } };
  }
  const configFile = join(dir, 'arm-config.json');
  await writeFile(configFile, JSON.stringify(settings));
  const { result, minutes } = await arborRun([configFile], `${values.name}-${arm}`);
  const searched = result.iterations.filter((record) => record.iteration > 0);
  const generatedTokens = searched.reduce((sum, record) => sum + (record.training.generated_tokens ?? 0), 0);
  const searches = searched.reduce((sum, record) => sum + (record.training.searches ?? 0), 0);
  const base = result.iterations.find((record) => record.iteration === 0) ?? assert.fail('the run has no iteration-0 record');
  const weak = weakLevel(base);
  const final = [...result.iterations].reverse().find((record) => record.iteration > 0 && record.policyPromoted) ?? base;
  const iterations = [];
  for (const record of result.iterations) {
    const zeroStd = record.training.frac_reward_zero_std;
    iterations.push({
      iteration: record.iteration,
      accuracyByLevel: record.accuracyByLevel,
      promoted: record.policyPromoted,
      fresh: await freshAccuracy(record.policyPath, [weak, weak + 1]),
      nonzeroGradient: zeroStd === undefined ? null : 1 - zeroStd,
    });
  }
  const summary: ArmSummary = {
    arm,
    minutes,
    searches,
    generatedTokens,
    tokensPerProblem: Math.max(1, Math.round(generatedTokens / Math.max(1, searches))),
    iterations,
    final: final.iteration,
    prmAuc: result.best?.prmAuc ?? null,
    sftInvalid: searched.at(-1)?.training.sft_invalid ?? null,
    steps: lineageSteps(dir, final.policyPath),
  };
  await writeFile(join(dir, 'arm.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`${arm}: ${searches} searches, ${generatedTokens} generated tokens (${summary.tokensPerProblem} per problem), ${minutes.toFixed(1)} min`);
}

/** The control: the default arm's final lineage's optimizer steps on the base's own gold data. */
async function runControl(): Promise<void> {
  const reference = (await readArm(defaultArm)) ?? assert.fail(`the control trains as many steps as the default arm: run --arm ${defaultArm} first`);
  const dir = armDir('control');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const started = performance.now();
  const gold = join(dir, 'gold.jsonl');
  await writeSolutionsJsonl(microTrainingProblems(MICRO_RECIPE), gold);
  const model = join(dir, 'control.gguf');
  const base = reference.iterations[0] ?? assert.fail('the default arm has no base record');
  let accuracyByLevel = base.accuracyByLevel;
  let fresh = base.fresh;
  if (reference.steps > 0) {
    const prepared = await prepareTrainingData({ model: config.policy.model, objective: 'sft', data: gold, outDir: join(dir, 'data') });
    const settings = config.train.policy;
    await runTrainer({ model: config.policy.model, data: prepared.train.path, out: model, objective: 'sft', parent: config.policy.model, dataSha256: prepared.dataSha256, seed: 1, threads: config.threads, steps: reference.steps, batch: settings.batch, lr: settings.lr, warmup: settings.warmup, weightDecay: settings.weightDecay, clip: 1 });
    const perLevel = Object.fromEntries(levels.map((level) => [level, config.task.evalProblemsPerLevel]));
    const evaluation = await evaluateGreedy({ modelPath: model, task, problems: heldOutProblems(task, perLevel), threads: config.threads, sequences: config.sequences });
    accuracyByLevel = Object.fromEntries(Object.entries(evaluation.byLevel).map(([level, tally]) => [level, tally.accuracy]));
    const weak = weakLevel(base);
    fresh = await freshAccuracy(model, [weak, weak + 1]);
  }
  const summary: ArmSummary = {
    arm: 'control',
    minutes: (performance.now() - started) / 60_000,
    searches: 0,
    generatedTokens: 0,
    tokensPerProblem: 0,
    iterations: [base, { iteration: 1, accuracyByLevel, promoted: true, fresh, nonzeroGradient: null }],
    final: 1,
    prmAuc: null,
    sftInvalid: null,
    steps: reference.steps,
  };
  await writeFile(join(dir, 'arm.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`control: ${reference.steps} optimizer steps on ${Object.values(MICRO_RECIPE.problems).reduce((a, b) => a + b, 0)} gold solutions`);
}

async function assemble(): Promise<void> {
  const arms = new Map<string, ArmSummary>();
  for (const arm of ARM_NAMES) {
    const summary = await readArm(arm);
    if (summary !== null) arms.set(arm, summary);
  }
  const main = arms.get(defaultArm) ?? assert.fail(`no arm.json of the default arm (${defaultArm}) under ${armDir(defaultArm)}: run it first`);
  const base = main.iterations[0] ?? assert.fail('the default arm has no base record');
  const weak = weakLevel(base);
  const finalOf = (summary: ArmSummary) => summary.iterations.find((record) => record.iteration === summary.final) ?? base;
  const percent = (value: number | undefined | null): string => (value === undefined || value === null || Number.isNaN(value) ? '—' : (value * 100).toFixed(1));
  console.log(`\nweak level ${weak} (held-out, ${config.task.evalProblemsPerLevel} problems a level; fresh: ${freshCount} more, not in the held-out set)`);
  console.log('| arm | held-out weak % per iteration (* promoted) | final weak % | fresh weak % | final next % | non-zero-gradient problems % per iteration | tokens/problem | minutes |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [arm, summary] of arms) {
    const final = finalOf(summary);
    const curve = summary.iterations.map((record) => `${percent(accuracyAt(record, weak))}${record.promoted && record.iteration > 0 ? '*' : ''}`).join(' → ');
    const nonzero = summary.iterations.filter((record) => record.nonzeroGradient !== null).map((record) => percent(record.nonzeroGradient)).join(', ');
    console.log(`| ${arm}${arm === defaultArm ? ' (default)' : ''} | ${curve} | ${percent(accuracyAt(final, weak))} | ${percent(final.fresh[String(weak)])} | ${percent(accuracyAt(final, weak + 1))} | ${nonzero || '—'} | ${summary.tokensPerProblem} | ${summary.minutes.toFixed(1)} |`);
  }
  const final = finalOf(main);
  const solved = levels.filter((level) => level < weak);
  const inRangeDrop = Math.max(0, ...solved.map((level) => accuracyAt(base, level) - accuracyAt(final, level)));
  const fixed = (value: number | undefined | null): string => (value === undefined || value === null ? 'nan' : value.toFixed(3));
  const armWeak = (arm: string): number | undefined => {
    const summary = arms.get(arm);
    return summary === undefined ? undefined : accuracyAt(finalOf(summary), weak);
  };
  const perArm = [...arms.keys()].map((arm) => {
    const key = arm.replace('-', '_');
    const summary = arms.get(arm) as ArmSummary;
    // control_weak is already a fixed key of the line.
    return `${arm === 'control' ? '' : `${key}_weak=${fixed(armWeak(arm))} `}${key}_fresh=${fixed(finalOf(summary).fresh[String(weak)])}`;
  });
  console.log(
    `RESULT weak_level=${weak} base_weak=${fixed(accuracyAt(base, weak))} final_weak=${fixed(accuracyAt(final, weak))} control_weak=${fixed(armWeak('control'))} ` +
      `bon_final_weak=${fixed(armWeak('bon-sft'))} base_next=${fixed(accuracyAt(base, weak + 1))} final_next=${fixed(accuracyAt(final, weak + 1))} ` +
      `in_range_drop=${fixed(inRangeDrop)} prm_auc=${fixed(main.prmAuc)} sft_invalid=${fixed(main.sftInvalid)} minutes=${main.minutes.toFixed(1)} ${perArm.join(' ')}`,
  );
}

if (!values.assemble) {
  // MCTS*+SFT first (the best-of-N arms spend its tokens per problem), the control last (it trains as many steps as the default arm).
  const order = values.arm !== undefined ? [values.arm] : [...new Set(['mcts-sft', defaultArm, ...ARM_NAMES])];
  for (const arm of order) {
    if (arm === 'control') await runControl();
    else await runArm(arm as LoopArm);
  }
}
if (values.assemble || values.arm === undefined) await assemble();
