/**
 * The small interfaces through which the search algorithms reach models, so that they stay pure and
 * can be driven by scripted fakes in tests. A prefix is the list of steps after the question.
 */
import type { SearchTree } from './tree.ts';

export interface StepCandidate {
  /** The step text, without the step delimiter. */
  text: string;
  /** Tokens the policy generated for it (the search budget is counted in these). */
  generatedTokens: number;
}

export interface StepPolicy {
  /**
   * Up to `count` sampled next steps after `prefix`; with `greedy` the single most likely step.
   * Candidates may repeat: the caller rejects duplicates.
   */
  proposeSteps(prefix: readonly string[], count: number, options?: { greedy?: boolean }): Promise<StepCandidate[]>;
}

export interface PrefixValue {
  /** V(question ⊕ prefix) in [0, 1] for each prefix, in order (the PRM, or a stand-in before one exists). */
  scorePrefixes(prefixes: readonly (readonly string[])[]): Promise<number[]>;
}

/** What the search needs to know of the task: where a path ends. */
export interface StepReader {
  /** The final answer a step states, or null when the step does not end the solution. */
  answerOf(step: string): string | null;
}

/** Counts of model work one search spent. */
export interface SearchStats {
  generatedTokens: number;
  policyCalls: number;
  valueCalls: number;
  /** Prefixes scored by the value function. */
  prefixesScored: number;
}

export function emptyStats(): SearchStats {
  return { generatedTokens: 0, policyCalls: 0, valueCalls: 0, prefixesScored: 0 };
}

/** Policy and value function wrapped so that every call is counted in `stats`. */
export interface CountedModels {
  stats: SearchStats;
  propose(prefix: readonly string[], count: number, greedy?: boolean): Promise<StepCandidate[]>;
  score(prefixes: readonly (readonly string[])[]): Promise<number[]>;
}

const clip01 = (value: number): number => Math.min(1, Math.max(0, value));

export function countedModels(policy: StepPolicy, value: PrefixValue | null): CountedModels {
  const stats = emptyStats();
  return {
    stats,
    async propose(prefix, count, greedy = false) {
      const candidates = await policy.proposeSteps(prefix, count, { greedy });
      stats.policyCalls += 1;
      for (const candidate of candidates) stats.generatedTokens += candidate.generatedTokens;
      return candidates;
    },
    async score(prefixes) {
      if (value === null) throw new Error('this search needs a value function (PRM) and none was given');
      if (prefixes.length === 0) return [];
      const scores = await value.scorePrefixes(prefixes);
      if (scores.length !== prefixes.length) throw new Error(`value function returned ${scores.length} scores for ${prefixes.length} prefixes`);
      stats.valueCalls += 1;
      stats.prefixesScored += prefixes.length;
      return scores.map(clip01);
    },
  };
}

/** What every search returns: its tree, the answer it picked (null if none) and what it cost. */
export interface SearchOutcome {
  algorithm: string;
  tree: SearchTree;
  answer: string | null;
  /** The node whose answer was picked, when one was. */
  answerNode: number | null;
  stats: SearchStats;
}
