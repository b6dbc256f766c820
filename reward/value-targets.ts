/**
 * Labels inferred from a finished search tree whose answer leaves carry `correct`:
 * the ReST-MCTS* quality value with reasoning distance (../shared/DESIGN.md), and Monte Carlo
 * soft/hard labels (Math-Shepherd) from rollout counts. Pure functions of the tree.
 */
import { childrenOf, nodeAt, type SearchNode, type SearchTree } from '../search/tree.ts';

export interface NodeTarget {
  nodeId: number;
  /** +1 on a path to a correct answer, −1 on paths that reach only wrong answers. */
  reward: 1 | -1;
  /** Reasoning distance: steps to the nearest correct answer (taken from the nearest correct-path ancestor for wrong nodes). */
  distance: number;
  /** Quality value v_k in [0, 1]; 1 at every correct leaf. */
  value: number;
}

interface Reach {
  /** 1 + fewest steps down to a correct answer leaf (1 for the leaf itself); Infinity if none. */
  correctDistance: number;
  reachesWrong: boolean;
}

function reachOf(tree: SearchTree): Map<number, Reach> {
  const reach = new Map<number, Reach>();
  // Children always have larger ids than their parents, so a reverse sweep sees children first.
  for (let id = tree.nodes.length - 1; id >= 0; id--) {
    const node = nodeAt(tree, id);
    const children = childrenOf(tree, node).map((child) => reach.get(child.id) as Reach);
    const correctLeaf = node.state === 'end' && node.correct === true;
    reach.set(id, {
      correctDistance: correctLeaf ? 1 : 1 + Math.min(Infinity, ...children.map((child) => child.correctDistance)),
      // As in the reference (ReST-MCTS*): every end leaf that is not correct is wrong — a wrong
      // answer, a dead end, a path cut at the depth limit — so rambling without answering is bad.
      reachesWrong: (node.state === 'end' && !correctLeaf) || children.some((child) => child.reachesWrong),
    });
  }
  return reach;
}

/**
 * Quality values for every node on a path to an end leaf, or [] when no end leaf is correct.
 * Nodes below which no path has ended (unexplored) get no target.
 * v(root) = 0 and v_k = max(0, v_{k−1} + r_k·(1 − v_{k−1}) / D_k); an end leaf that is not correct
 * gets 0, its outcome being known, so no label ever calls a wrong final answer good.
 */
export function qualityValueTargets(tree: SearchTree): NodeTarget[] {
  const reach = reachOf(tree);
  const root = nodeAt(tree, 0);
  if (!Number.isFinite(reach.get(0)?.correctDistance)) return [];
  const targets: NodeTarget[] = [];
  // Walk down from the root carrying the parent's v and the nearest correct-path ancestor's D.
  const visit = (node: SearchNode, parentValue: number, ancestorDistance: number): void => {
    for (const child of childrenOf(tree, node)) {
      const { correctDistance, reachesWrong } = reach.get(child.id) as Reach;
      const onCorrectPath = Number.isFinite(correctDistance);
      if (!onCorrectPath && !reachesWrong) continue;
      const reward = onCorrectPath ? 1 : -1;
      const distance = onCorrectPath ? correctDistance : ancestorDistance;
      const wrongEnd = child.state === 'end' && child.correct !== true;
      const value = wrongEnd ? 0 : Math.max(0, parentValue + (reward * (1 - parentValue)) / distance);
      targets.push({ nodeId: child.id, reward, distance, value });
      visit(child, value, distance);
    }
  };
  visit(root, 0, (reach.get(0) as Reach).correctDistance);
  return targets;
}

export interface MonteCarloLabel {
  /** Fraction of rollouts from the prefix that ended with a correct answer. */
  soft: number;
  /** Whether any rollout did. */
  hard: boolean;
}

export function monteCarloLabel(correctRollouts: number, rollouts: number): MonteCarloLabel {
  if (!Number.isInteger(rollouts) || rollouts <= 0) throw new Error(`Monte Carlo label needs at least one rollout, got ${rollouts}`);
  if (!Number.isInteger(correctRollouts) || correctRollouts < 0 || correctRollouts > rollouts) {
    throw new Error(`correct rollouts must be an integer in [0, ${rollouts}], got ${correctRollouts}`);
  }
  return { soft: correctRollouts / rollouts, hard: correctRollouts > 0 };
}
