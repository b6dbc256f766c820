/**
 * Inference resources of this worker process, one per model file: the policy's step generator and
 * the PRM's log-prob scorer (node-llama-cpp contexts with `sequences` parallel sequences).
 * A model replaced by a newer iteration's is disposed when the next one is asked for; the weights
 * it ran on stay loaded while the other holder runs on them too (one file, or LoRA adapters on one base).
 */
import { resolve } from 'node:path';
import { LogProbScorer } from '../engine/log-probs.ts';
import { createPromptBuilder, type PromptBuilder } from '../engine/prompt.ts';
import { StepGenerator } from '../engine/step-generator.ts';
import { loadVocabulary, unloadModel } from '../engine/llama.ts';
import { resolveModelFiles } from '../engine/model-files.ts';
import type { Task } from '../tasks/index.ts';
import type { RunConfig } from '../workflows/config.ts';
import { requireFile } from './run-context.ts';

interface Disposable {
  dispose(): Promise<void>;
}

/** One model file's resource, held until a different file is asked for. */
interface Held<T extends Disposable> {
  path: string;
  resource: Promise<T>;
}

let policy: Held<StepGenerator> | null = null;
let prm: Held<LogProbScorer> | null = null;

/** Disposes the resource; its weights are unloaded unless another holder runs on them (policy and PRM may share a file or a LoRA base). */
async function release(held: Held<Disposable>): Promise<void> {
  await (await held.resource).dispose();
  const baseOf = async (path: string): Promise<string> => resolve((await resolveModelFiles(path)).base);
  const base = await baseOf(held.path);
  const others = [policy, prm].flatMap((other) => (other === null || other === held ? [] : [other.path]));
  const inUse = (await Promise.all(others.map(baseOf))).includes(base);
  if (!inUse) await unloadModel(held.path);
}

/**
 * The resource for `path`, replacing (and releasing) `held` when it is for another file. The switch
 * is recorded before the first await, so concurrent callers (the shards of one iteration) share one
 * resource instead of each making and releasing their own.
 */
function holdFor<T extends Disposable>(held: Held<T> | null, path: string, what: string, create: () => Promise<T>): Held<T> {
  if (held?.path === path) return held;
  requireFile(path, what);
  return {
    path,
    resource: (async () => {
      if (held !== null) await release(held);
      return create();
    })(),
  };
}

/** Inference settings of a run for one of its models: the context fits the task's prompts and solutions. */
function inference(config: RunConfig, task: Task) {
  return { threads: config.threads, sequences: config.sequences, contextSize: task.contextSize, engine: config.engine };
}

export async function policyGenerator(path: string, config: RunConfig, task: Task): Promise<{ generator: StepGenerator; prompt: PromptBuilder }> {
  policy = holdFor(policy, path, 'policy model', () => StepGenerator.create({ modelPath: path, delimiter: task.delimiter, ...inference(config, task) }));
  const generator = await policy.resource;
  return { generator, prompt: createPromptBuilder(generator.model, task.prompt, task.delimiter) };
}

/** The policy's prompts without its weights (training rows need the prompt text, not the model). */
export async function policyPrompt(path: string, config: RunConfig, task: Task): Promise<PromptBuilder> {
  return createPromptBuilder(await loadVocabulary(path, config.engine), task.prompt, task.delimiter);
}

export async function prmScorer(path: string, config: RunConfig, task: Task): Promise<LogProbScorer> {
  prm = holdFor(prm, path, 'PRM model', () => LogProbScorer.create({ modelPath: path, ...inference(config, task) }));
  return prm.resource;
}

export async function releaseModels(): Promise<void> {
  const held = [policy, prm];
  policy = null;
  prm = null;
  for (const resource of held) if (resource !== null) await release(resource);
}
