/** Scripted policies and value tables for testing search/ on hand-built trees. */
import type { PrefixValue, StepCandidate, StepPolicy, StepReader } from '../search/types.ts';

const key = (prefix: readonly string[]): string => prefix.join('|');

/**
 * A policy that answers each prefix from a script: the n-th call for a prefix returns the n-th
 * list (the last list once the script runs out), cut to `count`; prefixes not in the script get `*`'s. Every step costs its length in tokens.
 */
export function scriptedPolicy(script: Record<string, string[][]>, greedyScript: Record<string, string> = {}): StepPolicy & { calls: string[] } {
  const served = new Map<string, number>();
  const calls: string[] = [];
  return {
    calls,
    async proposeSteps(prefix, count, options) {
      const k = key(prefix);
      calls.push(k);
      const step = (text: string): StepCandidate => ({ text, generatedTokens: text.length });
      if (options?.greedy === true && greedyScript[k] !== undefined) return [step(greedyScript[k])];
      const responses = script[k] ?? script['*'] ?? [];
      const index = served.get(k) ?? 0;
      served.set(k, index + 1);
      const response = responses[Math.min(index, responses.length - 1)] ?? [];
      return response.slice(0, count).map(step);
    },
  };
}

/** Values looked up by the last step of a prefix (default 0). */
export function valueTable(values: Record<string, number>): PrefixValue & { scored: string[] } {
  const scored: string[] = [];
  return {
    scored,
    async scorePrefixes(prefixes) {
      return prefixes.map((prefix) => {
        scored.push(key(prefix));
        return values[prefix.at(-1) ?? ''] ?? 0;
      });
    },
  };
}

/** Steps of the form `A: <answer>` end a path. */
export const answerLineReader: StepReader = {
  answerOf: (step) => /^A: (.+)$/.exec(step)?.[1] ?? null,
};
