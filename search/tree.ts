/**
 * Search trees as plain serialisable data: every algorithm in search/ builds one, the store keeps
 * it, and the value-target code reads it. Node 0 is the root (the bare question, no step).
 */
import { z } from 'zod';

/** open: a leaf not yet expanded; continue: expanded; end: a finished path (answer, end gate or depth limit). */
export const NodeStateSchema = z.enum(['open', 'continue', 'end']);
export type NodeState = z.infer<typeof NodeStateSchema>;

export const SearchNodeSchema = z.strictObject({
  id: z.number().int().nonnegative(),
  parent: z.number().int().nonnegative().nullable(),
  depth: z.number().int().nonnegative(),
  /** The step this node adds to its parent's prefix ('' for the root). */
  step: z.string(),
  visits: z.number().int().nonnegative(),
  /** V: the PRM score, later mixed with roll-forward values and backed up from children. */
  value: z.number(),
  /** The value function's raw score of this prefix, null where none was asked (the root). */
  prmScore: z.number().nullable(),
  state: NodeStateSchema,
  /** The final answer this step states, null when it states none. */
  answer: z.string().nullable(),
  /** Set after the search by a verifier; null when unknown or when the node has no answer. */
  correct: z.boolean().nullable(),
  /** Tokens the policy generated for this step. */
  generatedTokens: z.number().int().nonnegative(),
});
export type SearchNode = z.infer<typeof SearchNodeSchema>;

export const SearchTreeSchema = z.strictObject({
  question: z.string(),
  nodes: z.array(SearchNodeSchema).min(1),
});
export type SearchTree = z.infer<typeof SearchTreeSchema>;

/** Steps a solution may have when the task sets no limit. */
export const DEFAULT_MAX_DEPTH = 16;

/** The end-node rule of every search: a new step ends its path when it states an answer or reaches the depth limit. */
export function stepState(parent: SearchNode, answer: string | null, maxDepth: number): 'end' | 'open' {
  return answer !== null || parent.depth + 1 >= maxDepth ? 'end' : 'open';
}

export function createTree(question: string): SearchTree {
  return {
    question,
    nodes: [{ id: 0, parent: null, depth: 0, step: '', visits: 0, value: 0, prmScore: null, state: 'open', answer: null, correct: null, generatedTokens: 0 }],
  };
}

export function addChild(
  tree: SearchTree,
  parent: SearchNode,
  child: { step: string; prmScore: number; answer: string | null; generatedTokens: number; state: NodeState },
): SearchNode {
  const node: SearchNode = {
    id: tree.nodes.length,
    parent: parent.id,
    depth: parent.depth + 1,
    step: child.step,
    visits: 0,
    value: child.prmScore,
    prmScore: child.prmScore,
    state: child.state,
    answer: child.answer,
    correct: null,
    generatedTokens: child.generatedTokens,
  };
  tree.nodes.push(node);
  return node;
}

export function nodeAt(tree: SearchTree, id: number): SearchNode {
  const node = tree.nodes[id];
  if (node === undefined) throw new Error(`search tree has no node ${id}`);
  return node;
}

export function childrenOf(tree: SearchTree, node: SearchNode): SearchNode[] {
  return tree.nodes.filter((candidate) => candidate.parent === node.id);
}

/** The nodes from below the root down to `node` (the root, which adds no step, left out). */
export function pathNodes(tree: SearchTree, node: SearchNode): SearchNode[] {
  const nodes: SearchNode[] = [];
  for (let current: SearchNode | undefined = node; current.parent !== null; current = nodeAt(tree, current.parent)) nodes.push(current);
  return nodes.reverse();
}

/** The steps from the root down to `node` (the root contributes none). */
export function stepsTo(tree: SearchTree, node: SearchNode): string[] {
  return pathNodes(tree, node).map((current) => current.step);
}

/** Leaves that end with a stated answer. */
export function answerLeaves(tree: SearchTree): SearchNode[] {
  return tree.nodes.filter((node) => node.state === 'end' && node.answer !== null);
}

/**
 * The answer with the largest total value over `leaves` (majority vote when all weights are 1);
 * ties go to the answer reached first, so the result does not depend on object key order.
 */
export function weightedVote(leaves: readonly { answer: string | null }[], weight: (index: number) => number): string | null {
  const totals = new Map<string, number>();
  leaves.forEach((leaf, index) => {
    if (leaf.answer !== null) totals.set(leaf.answer, (totals.get(leaf.answer) ?? 0) + weight(index));
  });
  let best: string | null = null;
  let bestTotal = -Infinity;
  for (const [answer, total] of totals) {
    if (total > bestTotal) {
      best = answer;
      bestTotal = total;
    }
  }
  return best;
}
