/**
 * The search's StepPolicy (search/types.ts) over the engine: one problem's question, its prompt
 * style and sampling settings bound to a shared StepGenerator. Seeds come from the problem's own
 * call counter, so a search draws the same candidates whatever else runs beside it.
 */
import type { StepCandidate, StepPolicy } from '../search/types.ts';
import type { PromptBuilder } from './prompt.ts';
import type { Sampling, StepGenerator } from './step-generator.ts';

/** Seeds far apart per call, so the candidates of one call (seed + i) never reuse another call's seeds. */
const SEEDS_PER_CALL = 1_000;

function hashSeed(seed: number, text: string): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let index = 0; index < text.length; index++) hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  return hash % 1_000_000;
}

export function enginePolicy(options: { generator: StepGenerator; prompt: PromptBuilder; question: string; sampling: Sampling; seed: number }): StepPolicy & { generatedTokens(): number } {
  const base = hashSeed(options.seed, options.question) * SEEDS_PER_CALL;
  let calls = 0;
  let generated = 0;
  return {
    generatedTokens: () => generated,
    async proposeSteps(prefix, count, proposeOptions): Promise<StepCandidate[]> {
      const seed = (base + calls * SEEDS_PER_CALL) % 2 ** 31;
      calls += 1;
      const tokens = options.prompt.tokens(options.question, prefix);
      const steps = await options.generator.generateSteps(tokens, count, { sampling: options.sampling, seed, greedy: proposeOptions?.greedy });
      for (const step of steps) generated += step.generatedTokens;
      return steps.map((step) => ({ text: step.text, generatedTokens: step.generatedTokens }));
    },
  };
}
