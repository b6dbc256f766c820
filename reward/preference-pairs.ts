/**
 * Step-level preference pairs (MCTS-DPO): at each node on a path to a correct answer, the child
 * with the highest Q is chosen and the one with the lowest rejected, kept when the Q gap is large
 * and the two steps really differ. The shared prefix (question ⊕ steps so far) is the prompt.
 */
import { z } from 'zod';
import { childrenOf, stepsTo, type SearchTree } from '../search/tree.ts';
import type { NodeTarget } from './value-targets.ts';

export const pairFilterSchema = z.strictObject({
  /** Smallest Q(chosen) − Q(rejected) kept. */
  minGap: z.number().nonnegative().default(0.3),
  /** Smallest character edit distance between the two steps (near-identical steps teach nothing). */
  minEditDistance: z.number().int().nonnegative().default(1),
});
export type PairFilter = z.output<typeof pairFilterSchema>;

export interface StepPair {
  /** The node whose children are compared (their shared prefix). */
  parentId: number;
  chosenId: number;
  rejectedId: number;
  prefix: string[];
  chosen: string;
  rejected: string;
  chosenQ: number;
  rejectedQ: number;
}

/** Levenshtein distance, O(|a|·|b|) with one row. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, substitution));
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/**
 * Pairs from a labelled tree. Q of a child is its quality-value target; children without one
 * (nothing reached below them) are left out, and only parents on a correct path (reward +1, or the root) are used.
 */
export function stepPreferencePairs(tree: SearchTree, targets: readonly NodeTarget[], filter: Partial<PairFilter> = {}): StepPair[] {
  const { minGap, minEditDistance } = pairFilterSchema.parse(filter);
  const targetOf = new Map(targets.map((target) => [target.nodeId, target]));
  if (targets.length === 0) return [];
  const parents = tree.nodes.filter((node) => node.parent === null || targetOf.get(node.id)?.reward === 1);
  const pairs: StepPair[] = [];
  for (const parent of parents) {
    const scored = childrenOf(tree, parent).flatMap((child) => {
      const target = targetOf.get(child.id);
      return target === undefined ? [] : [{ child, q: target.value }];
    });
    if (scored.length < 2) continue;
    const best = scored.reduce((a, b) => (b.q > a.q ? b : a));
    const worst = scored.reduce((a, b) => (b.q < a.q ? b : a));
    if (best.q - worst.q < minGap || editDistance(best.child.step, worst.child.step) < minEditDistance) continue;
    pairs.push({
      parentId: parent.id,
      chosenId: best.child.id,
      rejectedId: worst.child.id,
      prefix: stepsTo(tree, parent),
      chosen: best.child.step,
      rejected: worst.child.step,
      chosenQ: best.q,
      rejectedQ: worst.q,
    });
  }
  return pairs;
}
