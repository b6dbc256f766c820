/**
 * The pipeline logic, written once: one run = prepare, then iterations of
 * plan → search shards → build data → train policy and PRM → evaluate → promote.
 * It reaches the world only through a PipelineHost: under Temporal (workflows/run-workflow.ts)
 * activities are proxied and signals/queries/continue-as-new are Temporal's; inline
 * (runtime/inline.ts) activities are called in-process. Deterministic: no I/O, no clocks, no randomness.
 */
import type { ActivityTypes, EvaluationSummary, RunInput, RunProgress, RunResult } from './types.ts';

export interface PipelineHost {
  /** Runs an activity; `summary` labels it in the Temporal UI. */
  run<K extends keyof ActivityTypes>(name: K, summary: string, input: Parameters<ActivityTypes[K]>[0]): ReturnType<ActivityTypes[K]>;
  /** Waits while the run is paused; true when a stop was asked (finish after the current activity). */
  checkpoint(): Promise<boolean>;
  /** Publishes progress (query, search attributes, current details). */
  report(progress: RunProgress): void;
  /** Ends this execution and goes on with `next` (Temporal: continue-as-new; inline: a loop). */
  continueAsNew(next: RunInput): Promise<never>;
}

function progressLine(progress: RunProgress): string {
  const best = progress.bestAccuracy === null ? 'n/a' : `${(progress.bestAccuracy * 100).toFixed(1)}%`;
  // The last iteration's learning monitors (TRL's names), where it measured them.
  const last = progress.history.at(-1)?.training ?? {};
  const learning = (['mean_reward', 'frac_reward_zero_std', 'kl', 'clip_frac'] as const).flatMap((metric) => (last[metric] === undefined ? [] : [`${metric} ${last[metric].toFixed(3)}`]));
  return [`iteration ${progress.iteration}/${progress.iterations}`, progress.stage, `best held-out accuracy ${best}`, ...learning, `policy ${progress.policyModel}`].join(' · ');
}

export async function runPipeline(host: PipelineHost, input: RunInput): Promise<RunResult> {
  const { runDir } = input;
  const progress: RunProgress = {
    iteration: input.iteration,
    iterations: input.iterations,
    stage: 'starting',
    bestAccuracy: input.best?.accuracy ?? null,
    policyModel: input.best?.policyPath ?? '',
    history: input.history,
    line: '',
  };
  const report = (stage: string): void => {
    progress.stage = stage;
    progress.line = progressLine(progress);
    host.report({ ...progress, history: [...progress.history] });
  };
  const stopped = async (): Promise<boolean> => {
    const stop = await host.checkpoint();
    if (stop) report('stopped');
    return stop;
  };

  let best = input.best;
  if (best === null) {
    report('preparing');
    const prepared = await host.run('prepareRun', 'prepare: record the base models, build the seed PRM, evaluate the base policy', { runDir });
    const { accuracy, accuracyByLevel, prmAuc } = prepared.baseline;
    best = { iteration: 0, accuracy, accuracyByLevel, prmAuc, policyPath: prepared.policyPath, prmPath: prepared.prmPath };
    progress.history.push(prepared.baseline);
    progress.bestAccuracy = best.accuracy;
    progress.policyModel = best.policyPath;
    if (await stopped()) return { status: 'stopped', iterations: progress.history, best };
  }

  const current = best;
  const iteration = input.iteration;
  const label = `iteration ${iteration}`;
  report('planning');
  const plan = await host.run('planIteration', `${label}: pick problems and split the search budget`, { runDir, iteration });
  if (await stopped()) return { status: 'stopped', iterations: progress.history, best };

  report('searching');
  // Shards run in parallel: each is one activity, so more workers on the inference queue search more at once.
  await Promise.all(plan.shards.map((shard, index) => host.run('searchShard', `${label}: search shard ${index + 1}/${plan.shards.length} (${shard.length} problems)`, { runDir, iteration, index, shard, policyPath: current.policyPath, prmPath: current.prmPath })));
  if (await stopped()) return { status: 'stopped', iterations: progress.history, best };

  report('building data');
  await host.run('buildData', `${label}: value targets, SFT / PRM / pair sets`, { runDir, iteration });
  if (await stopped()) return { status: 'stopped', iterations: progress.history, best };

  report('training');
  const [policy, prm] = await Promise.all([
    host.run('trainModel', `${label}: fine-tune the policy (SFT)`, { runDir, iteration, kind: 'policy', parentPath: current.policyPath }),
    host.run('trainModel', `${label}: fine-tune the PRM`, { runDir, iteration, kind: 'prm', parentPath: current.prmPath }),
  ]);
  if (await stopped()) return { status: 'stopped', iterations: progress.history, best };

  report('evaluating');
  const evaluation: EvaluationSummary = await host.run('evaluateModels', `${label}: held-out accuracy and PRM quality`, { runDir, iteration, policyPath: policy.path, prmPath: prm.path });
  report('promoting');
  const promotion = await host.run('promote', `${label}: promote if no regression`, { runDir, iteration, candidate: evaluation, best });
  best = promotion.best;
  progress.history.push({ ...evaluation, training: promotion.training, policyPromoted: promotion.policyPromoted, reason: promotion.reason });
  progress.bestAccuracy = best.accuracy;
  progress.policyModel = best.policyPath;
  report(iteration < input.iterations ? 'iteration done' : 'done');

  if (iteration < input.iterations) {
    if (await stopped()) return { status: 'stopped', iterations: progress.history, best };
    // Keep each execution's history small: one iteration per execution.
    return host.continueAsNew({ ...input, iteration: iteration + 1, best, history: progress.history });
  }
  return { status: 'completed', iterations: progress.history, best };
}
