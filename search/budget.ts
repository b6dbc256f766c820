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
