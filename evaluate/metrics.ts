/**
 * Evaluation metrics, pure: ROC AUC, pass@k, majority vote, first-error location, and the B-STaR
 * monitors (exploration: pass@k and distinct correct solutions; exploitation: how well a reward
 * separates correct from wrong samples).
 */
import { weightedVote } from '../search/tree.ts';

/** ROC AUC of `scores` for binary `labels` (ties count half); null when one class is missing. */
export function rocAuc(scores: readonly number[], labels: readonly boolean[]): number | null {
  if (scores.length !== labels.length) throw new Error(`rocAuc: ${scores.length} scores for ${labels.length} labels`);
  const order = scores.map((score, index) => ({ score, positive: labels[index] === true })).sort((a, b) => a.score - b.score);
  const positives = order.filter((item) => item.positive).length;
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return null;
  // Mann–Whitney U with average ranks for ties.
  let rankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.score === order[start]?.score) end++;
    const averageRank = (start + end) / 2 + 1;
    for (let index = start; index <= end; index++) if (order[index]?.positive) rankSum += averageRank;
    start = end + 1;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Unbiased pass@k from n samples of which c are correct (Chen et al. 2021): 1 − C(n−c, k)/C(n, k). */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k) || n < 1 || c < 0 || c > n || k < 1 || k > n) {
    throw new Error(`passAtK needs integers 0 <= c <= n and 1 <= k <= n, got n=${n} c=${c} k=${k}`);
  }
  if (n - c < k) return 1;
  let missAll = 1;
  for (let i = n - c + 1; i <= n; i++) missAll *= 1 - k / i;
  return 1 - missAll;
}

/** The most frequent non-null answer (ties: the one seen first); null when there is none. */
export function majorityVote(answers: readonly (string | null)[]): string | null {
  return weightedVote(answers.map((answer) => ({ answer })), () => 1);
}

/** Index of the first false label, or −1 when every step is right. */
export function firstErrorIndex(labels: readonly boolean[]): number {
  return labels.indexOf(false);
}

/**
 * Accuracy of locating the first wrong step: the predicted first error is the first step whose
 * PRM value falls below `threshold` (−1 if none); a solution counts when that equals the truth.
 */
export function firstErrorAccuracy(solutions: readonly { values: readonly number[]; labels: readonly boolean[] }[], threshold = 0.5): number | null {
  if (solutions.length === 0) return null;
  const hits = solutions.filter(({ values, labels }) => values.findIndex((value) => value < threshold) === firstErrorIndex(labels)).length;
  return hits / solutions.length;
}

export interface ProblemSamples {
  /** One per sample: its final answer's correctness and, when a reward scored it, that score. */
  samples: readonly { correct: boolean; reward?: number; text?: string }[];
}

export interface BStarMonitors {
  /** Mean pass@k over problems. */
  passAtK: number;
  /** Mean number of distinct correct solutions (by text) per problem. */
  distinctCorrect: number;
  /** AUC of the reward between correct and wrong samples, pooled; null without both kinds. */
  rewardAuc: number | null;
}

/** B-STaR's exploration and exploitation monitors for one iteration's samples. */
export function bStarMonitors(problems: readonly ProblemSamples[], k: number): BStarMonitors {
  if (problems.length === 0) return { passAtK: 0, distinctCorrect: 0, rewardAuc: null };
  const pass = problems.map(({ samples }) => passAtK(samples.length, samples.filter((s) => s.correct).length, Math.min(k, samples.length)));
  const distinct = problems.map(({ samples }) => new Set(samples.filter((s) => s.correct).map((s, index) => s.text ?? String(index))).size);
  const scored = problems.flatMap(({ samples }) => samples.filter((s) => s.reward !== undefined));
  return {
    passAtK: pass.reduce((a, b) => a + b, 0) / problems.length,
    distinctCorrect: distinct.reduce((a, b) => a + b, 0) / problems.length,
    rewardAuc: rocAuc(scored.map((s) => s.reward ?? 0), scored.map((s) => s.correct)),
  };
}

/**
 * Share of invalid steps (answer lines included) over solutions, by an exact step checker: a measure
 * of training data, never a filter of it. 0 when there are no steps.
 */
export function invalidStepShare(rows: readonly { question: string; steps: readonly string[] }[], stepLabels: (question: string, steps: readonly string[]) => boolean[]): number {
  let steps = 0;
  let invalid = 0;
  for (const row of rows) {
    const labels = stepLabels(row.question, row.steps);
    steps += labels.length;
    invalid += labels.filter((valid) => !valid).length;
  }
  return steps === 0 ? 0 : invalid / steps;
}
