/**
 * Monte Carlo process labels (Math-Shepherd) from outcomes alone: sample chains for a training
 * problem, then label every prefix with the share of continuations from it that reach the reference
 * answer — the sampled chains through it plus `rollouts` fresh ones. The final step of a chain is
 * labelled by its own outcome (1 correct, 0 wrong or unanswered). No step checker is involved, so
 * this works for any task with a final-answer check. Pure: the policy comes in through StepPolicy,
 * and calls are made in a fixed order, so the labels depend only on the policy's seeded draws.
 */
import { bestOfNSearch } from '../search/baselines.ts';
import { stepsTo } from '../search/tree.ts';
import type { StepPolicy } from '../search/types.ts';
import { monteCarloValue } from './value-functions.ts';
import type { Verifier } from './verifiers.ts';

export interface LabelledChain {
  completions: string[];
  /** One label per step: soft in [0, 1], or hard 0 / 1. */
  labels: number[];
}

export interface MonteCarloLabelOptions {
  question: string;
  gold: string;
  policy: StepPolicy;
  verifier: Verifier;
  /** Chains sampled per problem. */
  samples: number;
  /** Fresh rollouts per distinct prefix, on top of the sampled chains through it. */
  rollouts: number;
  maxDepth: number;
  /** soft: the share of continuations that end correct; hard: 1 when any does (Math-Shepherd's two labels). */
  labels?: 'soft' | 'hard';
}

/** The problem's distinct sampled chains, each step labelled by the Monte Carlo share of correct continuations. */
export async function monteCarloChains(options: MonteCarloLabelOptions): Promise<LabelledChain[]> {
  const { verifier, gold } = options;
  const { tree } = await bestOfNSearch({ question: options.question, policy: options.policy, reader: verifier, n: options.samples, pick: 'vote', maxDepth: options.maxDepth });
  const chains = new Map<string, { steps: string[]; correct: boolean }>();
  // Every sampled chain (duplicates too) is one continuation of each of its proper prefixes.
  const through = new Map<string, { steps: string[]; total: number; correct: number }>();
  for (const leaf of tree.nodes.filter((node) => node.state === 'end')) {
    const steps = stepsTo(tree, leaf);
    const correct = leaf.answer !== null && verifier.isCorrect(leaf.answer, gold);
    const chain = steps.join('\n');
    if (!chains.has(chain)) chains.set(chain, { steps, correct });
    for (let length = 1; length < steps.length; length++) {
      const key = steps.slice(0, length).join('\n');
      const tally = through.get(key) ?? { steps: steps.slice(0, length), total: 0, correct: 0 };
      tally.total += 1;
      tally.correct += Number(correct);
      through.set(key, tally);
    }
  }
  const rollout = monteCarloValue({ policy: options.policy, verifier, gold, rollouts: options.rollouts, maxDepth: options.maxDepth });
  const labelOf = new Map<string, number>();
  // One prefix at a time, in first-seen order: the policy's call order (and so its seeds) is fixed.
  for (const [key, tally] of through) {
    const [rolloutShare = 0] = options.rollouts > 0 ? await rollout.scorePrefixes([tally.steps]) : [0];
    const correct = tally.correct + rolloutShare * options.rollouts;
    const share = correct / (tally.total + options.rollouts);
    labelOf.set(key, options.labels === 'hard' ? Number(share > 0) : share);
  }
  return [...chains.values()].map(({ steps, correct }) => ({
    completions: steps,
    labels: steps.map((_, index) => (index === steps.length - 1 ? Number(correct) : (labelOf.get(steps.slice(0, index + 1).join('\n')) ?? 0))),
  }));
}
