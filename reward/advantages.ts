/**
 * Advantages from outcomes only, for policy-gradient training: the reward of a finished path is its
 * final answer's correctness from the task's verifier (`correct`, set by markCorrectness), a path
 * that ended without an answer (dead end, depth limit) gets `noAnswerReward`. The step checker never
 * reaches here. Pure functions of a searched tree.
 * - group (GRPO, Dr. GRPO): the tree's sampled paths are one group, A = r − mean(r) (÷ std: `group`);
 * - tree (TreeRL): V(s) = mean reward of the finished paths under s, A(s) = (GA + LA)/√|L(s)| with
 *   GA = V(s) − V(root), LA = V(s) − V(parent); or TreeRPO's sibling normalisation, or ReST-MCTS*'s
 *   quality-value difference v(s) − v(parent).
 * A group or tree whose rewards are all equal gives no gradient: null, so callers drop and count it.
 */
import { childrenOf, nodeAt, type SearchNode, type SearchTree } from '../search/tree.ts';
import { qualityValueTargets } from './value-targets.ts';

/** The reward of a finished path: 1 right, 0 wrong, `noAnswerReward` without an answer; null for a node that is not an end. */
export function pathReward(node: SearchNode, noAnswerReward: number): number | null {
  if (node.state !== 'end') return null;
  if (node.answer === null) return noAnswerReward;
  return node.correct === true ? 1 : 0;
}

/** The finished paths of a tree (its end nodes), in node order, with their rewards. */
export function finishedPaths(tree: SearchTree, noAnswerReward: number): { node: SearchNode; reward: number }[] {
  return tree.nodes.flatMap((node) => {
    const reward = pathReward(node, noAnswerReward);
    return reward === null ? [] : [{ node, reward }];
  });
}

export type RewardScale = 'group' | 'none';

/** TRL's epsilon under the std, so a group of near-equal rewards is not blown up. */
const STD_EPSILON = 1e-4;

/** r − mean(r), ÷ (std + ε) with `group`; null when every reward is the same (no gradient). */
export function groupAdvantages(rewards: readonly number[], scale: RewardScale): number[] | null {
  if (rewards.length === 0) return null;
  const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  if (rewards.every((reward) => reward === rewards[0])) return null;
  const std = Math.sqrt(rewards.reduce((sum, reward) => sum + (reward - mean) ** 2, 0) / rewards.length);
  return rewards.map((reward) => (scale === 'group' ? (reward - mean) / (std + STD_EPSILON) : reward - mean));
}

export type TreeAdvantageKind = 'treerl' | 'treerpo' | 'quality';

export interface StepAdvantage {
  nodeId: number;
  advantage: number;
  /** |L(s)|: the finished paths through the step — each would have trained it once. */
  paths: number;
}

/**
 * Each step's advantage (every node but the root under which some path finished), in node order, or
 * null when all the tree's finished paths have the same reward. Each step appears once: its row
 * stands for the `paths` sampled paths through it (Prefix Grouper's saving for a tree).
 */
export function treeAdvantages(tree: SearchTree, options: { kind: TreeAdvantageKind; noAnswerReward: number; scale?: RewardScale }): StepAdvantage[] | null {
  const finished = finishedPaths(tree, options.noAnswerReward);
  if (groupAdvantages(finished.map((path) => path.reward), 'none') === null) return null;
  // Sums and counts of finished rewards under each node: children have larger ids, so a reverse sweep sees them first.
  const sum = new Array<number>(tree.nodes.length).fill(0);
  const count = new Array<number>(tree.nodes.length).fill(0);
  for (const { node, reward } of finished) {
    sum[node.id] = (sum[node.id] ?? 0) + reward;
    count[node.id] = (count[node.id] ?? 0) + 1;
  }
  for (let id = tree.nodes.length - 1; id > 0; id--) {
    const parent = nodeAt(tree, id).parent ?? 0;
    sum[parent] = (sum[parent] ?? 0) + (sum[id] ?? 0);
    count[parent] = (count[parent] ?? 0) + (count[id] ?? 0);
  }
  const value = (id: number): number => (sum[id] ?? 0) / (count[id] ?? 1);
  const steps = tree.nodes.filter((node) => node.parent !== null && (count[node.id] ?? 0) > 0);
  if (options.kind === 'quality') {
    const targetOf = new Map(qualityValueTargets(tree).map((target) => [target.nodeId, target.value]));
    const qualityOf = (id: number): number | undefined => (id === 0 ? 0 : targetOf.get(id));
    return steps.flatMap((node) => {
      const own = qualityOf(node.id);
      const parent = qualityOf(node.parent ?? 0);
      return own === undefined || parent === undefined ? [] : [{ nodeId: node.id, advantage: own - parent, paths: count[node.id] ?? 0 }];
    });
  }
  if (options.kind === 'treerpo') {
    // GRPO among the siblings of each branching that finished somewhere; a lone child has no comparison (0).
    return steps.map((node) => {
      const siblings = childrenOf(tree, nodeAt(tree, node.parent ?? 0)).filter((sibling) => (count[sibling.id] ?? 0) > 0);
      const advantages = groupAdvantages(siblings.map((sibling) => value(sibling.id)), options.scale ?? 'none');
      const advantage = advantages === null ? 0 : (advantages[siblings.findIndex((sibling) => sibling.id === node.id)] ?? 0);
      return { nodeId: node.id, advantage, paths: count[node.id] ?? 0 };
    });
  }
  const root = value(0);
  return steps.map((node) => {
    const paths = count[node.id] ?? 0;
    const own = value(node.id);
    return { nodeId: node.id, advantage: (own - root + (own - value(node.parent ?? 0))) / Math.sqrt(paths), paths };
  });
}
