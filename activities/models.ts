/**
 * Inference resources of this worker process, one per model file: the policy's step generator and
 * the PRM's log-prob scorer (node-llama-cpp contexts with `sequences` parallel sequences).
 * A model replaced by a newer iteration's is disposed when the next one is asked for; the weights
 * it ran on stay loaded while the other holder runs on the same file. With LoRA adapters on one base
 * both holders are let go and the base reloaded: llama.cpp keeps every adapter it applied for as long
 * as the base stays loaded, so the adapters of past iterations would pile up.
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

type Kind = 'policy' | 'prm';

/** Disposes the resource and unloads its weights unless the other kind's holder runs on the same file. */
async function release(kind: Kind, held: Held<Disposable>): Promise<void> {
  await (await held.resource).dispose();
  const other = kind === 'policy' ? prm : policy;
  if (other === null) {
    await unloadModel(held.path);
    return;
  }
  if (other.path === held.path) return;
  const [mine, theirs] = await Promise.all([resolveModelFiles(held.path), resolveModelFiles(other.path)]);
  if (resolve(mine.base) !== resolve(theirs.base)) {
    await unloadModel(held.path);
    return;
  }
  if (mine.adapters.length === 0 && theirs.adapters.length === 0) return;
  // Adapters on a shared base: the other holder is made again when next asked for, on a fresh base.
  if (kind === 'policy') prm = null;
  else policy = null;
  await (await other.resource).dispose();
  await unloadModel(held.path);
}

/**
 * The resource for `path`, replacing (and releasing) `held` when it is for another file. The switch
 * is recorded before the first await, so concurrent callers (the shards of one iteration) share one
 * resource instead of each making and releasing their own.
 */
function holdFor<T extends Disposable>(kind: Kind, held: Held<T> | null, path: string, create: () => Promise<T>): Held<T> {
  if (held?.path === path) return held;
  requireFile(path, `${kind === 'prm' ? 'PRM' : kind} model`);
  return {
    path,
    resource: (async () => {
      if (held !== null) await release(kind, held);
      return create();
    })(),
  };
}

/** Inference settings of a run for one of its models: the context fits the task's prompts and solutions. */
function inference(config: RunConfig, task: Task) {
  return { threads: config.threads, sequences: config.sequences, contextSize: task.contextSize, engine: config.engine };
}

export async function policyGenerator(path: string, config: RunConfig, task: Task): Promise<{ generator: StepGenerator; prompt: PromptBuilder }> {
  policy = holdFor('policy', policy, path, () => StepGenerator.create({ modelPath: path, delimiter: task.delimiter, ...inference(config, task) }));
  const generator = await policy.resource;
  return { generator, prompt: createPromptBuilder(generator.model, task.prompt, task.delimiter) };
}

/** The policy's prompts without its weights (training rows need the prompt text, not the model). */
export async function policyPrompt(path: string, config: RunConfig, task: Task): Promise<PromptBuilder> {
  return createPromptBuilder(await loadVocabulary(path, config.engine), task.prompt, task.delimiter);
}

export async function prmScorer(path: string, config: RunConfig, task: Task): Promise<LogProbScorer> {
  prm = holdFor('prm', prm, path, () => LogProbScorer.create({ modelPath: path, ...inference(config, task) }));
  return prm.resource;
}

export async function releaseModels(): Promise<void> {
  const held = [['policy', policy], ['prm', prm]] as const;
  policy = null;
  prm = null;
  for (const [kind, resource] of held) if (resource !== null) await release(kind, resource);
}
