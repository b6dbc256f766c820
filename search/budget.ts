/**
 * Search budget allocation across problems (Knapsack RL / Self-Evolving Curriculum idea): a problem
 * teaches most when its solve rate is near 1/2 and nothing when it is always or never solved, so
 * each problem's share is proportional to p(1 − p) (the variance of its success), with a small
 * floor that keeps every problem looked at. Unseen problems count as p = 1/2.
 */
import { z } from 'zod';

export const budgetOptionsSchema = z.strictObject({
  /** Total budget to split (e.g. MCTS* iterations or generated tokens); an integer. */
  total: z.number().int().nonnegative(),
  /** Least any problem gets (while the total allows). */
  floor: z.number().int().nonnegative().default(1),
  /** Most any problem gets. */
  cap: z.number().int().positive().optional(),
});
export type BudgetOptions = z.input<typeof budgetOptionsSchema>;

/** Integer budgets per problem, summing to `total` (largest-remainder rounding; ties to the earlier problem). */
export function allocateBudget(solveRates: readonly (number | null)[], options: BudgetOptions): number[] {
  const { total, floor, cap } = budgetOptionsSchema.parse(options);
  const n = solveRates.length;
  if (n === 0) return [];
  for (const rate of solveRates) if (rate !== null && !(rate >= 0 && rate <= 1)) throw new Error(`solve rates must be in [0, 1] or null, got ${rate}`);
  const limit = cap ?? Infinity;
  if (limit * n < total) throw new Error(`a cap of ${cap} per problem cannot hold a total of ${total} over ${n} problems`);
  const budgets = new Array<number>(n).fill(Math.min(floor, limit, Math.floor(total / n)));
  let left = total - budgets.reduce((a, b) => a + b, 0);
  const weights = solveRates.map((rate) => {
    const p = rate ?? 0.5;
    return p * (1 - p);
  });
  // Largest remainder over the exact proportional shares; repeated only when caps cut some off.
  while (left > 0) {
    const open = budgets.map((budget, index) => (budget < limit ? index : -1)).filter((index) => index >= 0);
    const weightSum = open.reduce((sum, index) => sum + (weights[index] ?? 0), 0);
    const shares = open.map((index) => ({ index, share: weightSum > 0 ? (left * (weights[index] ?? 0)) / weightSum : left / open.length }));
    for (const { index, share } of shares) {
      const add = Math.min(Math.floor(share), limit - (budgets[index] ?? 0));
      budgets[index] = (budgets[index] ?? 0) + add;
      left -= add;
    }
    const byRemainder = shares.slice().sort((a, b) => (b.share % 1) - (a.share % 1) || a.index - b.index);
    for (const { index } of byRemainder) {
      if (left === 0) break;
      if ((budgets[index] ?? 0) >= limit) continue;
      budgets[index] = (budgets[index] ?? 0) + 1;
      left -= 1;
    }
  }
  return budgets;
}

export const curriculumSchema = z.strictObject({
  /** Least weight of a level, as p(1 − p) would give it: keeps solved levels in the data (replay) and hopeless ones looked at. */
  floor: z.number().min(0).max(0.25).default(0.05),
  /**
   * A problem searched before whose solve rate came out 0 or 1 is not searched again (Knapsack RL: its
   * rewards would all be equal, no gradient); a fresh problem of its level takes its place.
   */
  skipSettled: z.boolean().default(true),
});

/**
 * The first `count` candidates whose last measured solve rate is unknown (never searched) or strictly
 * between 0 and 1, in candidate order; `settled` counts the ones passed over.
 */
export function frontierProblems<T>(candidates: readonly T[], rates: readonly (number | null)[], count: number): { chosen: T[]; settled: number } {
  const chosen: T[] = [];
  let settled = 0;
  for (const [index, candidate] of candidates.entries()) {
    if (chosen.length >= count) break;
    const rate = rates[index] ?? null;
    if (rate === 0 || rate === 1) settled += 1;
    else chosen.push(candidate);
  }
  return { chosen, settled };
}
export type CurriculumOptions = z.input<typeof curriculumSchema>;

/**
 * Problems per difficulty level for an iteration: the frontier — levels solved sometimes but not
 * always — gets most, in proportion to max(p(1 − p), floor) for solve rate p (unknown: p = 1/2);
 * solved and hopeless levels keep the floor's share. Integer counts summing to `total`.
 */
export function problemsPerLevel(solveRates: ReadonlyMap<number, number | null>, total: number, options: CurriculumOptions = {}): Map<number, number> {
  const { floor } = curriculumSchema.parse(options);
  const levels = [...solveRates.keys()];
  const weights = levels.map((level) => {
    const p = solveRates.get(level) ?? 0.5;
    return Math.max(p * (1 - p), floor);
  });
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const counts = new Array<number>(levels.length).fill(0);
  let left = total;
  const shares = weights.map((weight, index) => ({ index, share: weightSum > 0 ? (total * weight) / weightSum : total / levels.length }));
  for (const { index, share } of shares) {
    counts[index] = Math.floor(share);
    left -= Math.floor(share);
  }
  for (const { index } of shares.slice().sort((a, b) => (b.share % 1) - (a.share % 1) || a.index - b.index)) {
    if (left === 0) break;
    counts[index] = (counts[index] ?? 0) + 1;
    left -= 1;
  }
  return new Map(levels.map((level, index) => [level, counts[index] ?? 0]));
}
