/**
 * Inference resources of this worker process, one per model file: the policy's step generator and
 * the PRM's log-prob scorer (node-llama-cpp contexts with `sequences` parallel sequences).
 * A model replaced by a newer iteration's is disposed when the next one is asked for.
 */
import { LogProbScorer } from '../engine/log-probs.ts';
import { createPromptBuilder, type PromptBuilder } from '../engine/prompt.ts';
import { StepGenerator } from '../engine/step-generator.ts';
import { unloadModel } from '../engine/llama.ts';
import { STEP_DELIMITER } from '../tasks/arithmetic.ts';
import type { RunConfig } from '../workflows/config.ts';
import { requireFile } from './run-context.ts';

const CONTEXT_SIZE = 256;

let policy: { path: string; generator: Promise<StepGenerator> } | null = null;
let prm: { path: string; scorer: Promise<LogProbScorer> } | null = null;

async function release(path: string, resource: Promise<{ dispose(): Promise<void> }>): Promise<void> {
  await (await resource).dispose();
  await unloadModel(path);
}

// The switch to a new model is recorded before the first await, so that concurrent callers (the
// shards of one iteration) share one resource instead of each making and releasing their own.
export async function policyGenerator(path: string, config: RunConfig): Promise<{ generator: StepGenerator; prompt: PromptBuilder }> {
  if (policy?.path !== path) {
    requireFile(path, 'policy model');
    const previous = policy;
    policy = {
      path,
      generator: (async () => {
        if (previous !== null) await release(previous.path, previous.generator);
        return StepGenerator.create({ modelPath: path, threads: config.threads, sequences: config.sequences, contextSize: CONTEXT_SIZE, delimiter: STEP_DELIMITER });
      })(),
    };
  }
  const generator = await policy.generator;
  return { generator, prompt: createPromptBuilder(generator.model, { style: 'plain', preamble: '', template: 'Q: {question}\n' }, STEP_DELIMITER) };
}

export async function prmScorer(path: string, config: RunConfig): Promise<LogProbScorer> {
  if (prm?.path !== path) {
    requireFile(path, 'PRM model');
    const previous = prm;
    prm = {
      path,
      scorer: (async () => {
        if (previous !== null) await release(previous.path, previous.scorer);
        return LogProbScorer.create({ modelPath: path, threads: config.threads, sequences: config.sequences, contextSize: CONTEXT_SIZE });
      })(),
    };
  }
  return prm.scorer;
}

export async function releaseModels(): Promise<void> {
  if (policy !== null) await release(policy.path, policy.generator);
  if (prm !== null) await release(prm.path, prm.scorer);
  policy = null;
  prm = null;
}
