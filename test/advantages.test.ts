// Advantages from outcomes (reward/advantages.ts) on hand-built trees, every number computed by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { finishedPaths, groupAdvantages, treeAdvantages, type StepAdvantage } from '../reward/advantages.ts';
import { addChild, createTree, nodeAt, type SearchTree } from '../search/tree.ts';

/**
 * root ─ a ─ a1 "A: 1" (right)
 *      │   └ a2 "A: 2" (wrong)
 *      └ b ─ b1 "A: 3" (wrong)
 *          └ b2      (never expanded: no outcome)
 * V(root) = 1/3, V(a) = 1/2, V(b) = 0.
 */
function handTree(): SearchTree {
  const tree = createTree('q');
  const node = (parent: number, step: string, answer: string | null = null, correct: boolean | null = null) => {
    const child = addChild(tree, nodeAt(tree, parent), { step, prmScore: 0.5, answer, generatedTokens: 2, state: answer === null ? 'open' : 'end' });
    child.correct = correct;
    return child.id;
  };
  const a = node(0, 'a');
  const b = node(0, 'b');
  node(a, 'A: 1', '1', true);
  node(a, 'A: 2', '2', false);
  node(b, 'A: 3', '3', false);
  node(b, 'b2');
  nodeAt(tree, a).state = 'continue';
  nodeAt(tree, b).state = 'continue';
  return tree;
}

const byNode = (steps: StepAdvantage[] | null): Record<number, [number, number]> =>
  Object.fromEntries((steps ?? assert.fail('advantages expected')).map((step) => [step.nodeId, [Number(step.advantage.toFixed(4)), step.paths]]));

describe('group advantages (GRPO, Dr. GRPO)', () => {
  test('A = r − mean(r); ÷ std with scaleRewards group; equal rewards give null (dropped)', () => {
    assert.deepEqual(groupAdvantages([1, 0, 0], 'none')?.map((a) => Number(a.toFixed(4))), [0.6667, -0.3333, -0.3333]);
    // std = √(2/9) = 0.47140; (2/3) / 0.47150 = 1.4139, (1/3) / 0.47150 = 0.70696
    assert.deepEqual(groupAdvantages([1, 0, 0], 'group')?.map((a) => Number(a.toFixed(4))), [1.4139, -0.707, -0.707]);
    assert.equal(groupAdvantages([1, 1, 1], 'none'), null);
    assert.equal(groupAdvantages([0, 0], 'group'), null);
    assert.equal(groupAdvantages([], 'none'), null);
  });

  test('finished paths: right 1, wrong 0, a path ended without an answer gets noAnswerReward', () => {
    const tree = handTree();
    const deadEnd = addChild(tree, nodeAt(tree, 0), { step: 'c', prmScore: 0, answer: null, generatedTokens: 1, state: 'end' });
    assert.deepEqual(finishedPaths(tree, -0.5).map(({ node, reward }) => [node.step, reward]), [['A: 1', 1], ['A: 2', 0], ['A: 3', 0], [deadEnd.step, -0.5]]);
  });
});

describe('tree advantages', () => {
  test('TreeRL: (GA + LA)/√|L(s)| with V the mean reward of the finished paths under each node', () => {
    assert.deepEqual(byNode(treeAdvantages(handTree(), { kind: 'treerl', noAnswerReward: 0 })), {
      1: [0.2357, 2], // a: (1/6 + 1/6)/√2
      2: [-0.6667, 1], // b: (−1/3 − 1/3)/1
      3: [1.1667, 1], // a1: (2/3 + 1/2)/1
      4: [-0.8333, 1], // a2: (−1/3 − 1/2)/1
      5: [-0.3333, 1], // b1: (−1/3 + 0)/1
    });
  });

  test('TreeRPO: GRPO among the siblings of each branching; a lone finished child gets 0', () => {
    assert.deepEqual(byNode(treeAdvantages(handTree(), { kind: 'treerpo', noAnswerReward: 0 })), { 1: [0.25, 2], 2: [-0.25, 1], 3: [0.5, 1], 4: [-0.5, 1], 5: [0, 1] });
  });

  test('quality: the ReST-MCTS* quality value gained by the step, v(s) − v(parent)', () => {
    // v(a) = 1/2 (D = 2), v(a1) = 1, wrong ends 0, v(b) = max(0, −1/3) = 0.
    assert.deepEqual(byNode(treeAdvantages(handTree(), { kind: 'quality', noAnswerReward: 0 })), { 1: [0.5, 2], 2: [0, 1], 3: [0.5, 1], 4: [-0.5, 1], 5: [0, 1] });
  });

  test('a tree whose finished paths all have one reward gives null (no gradient); the penalty can make them differ', () => {
    const tree = createTree('q');
    const a = addChild(tree, nodeAt(tree, 0), { step: 'a', prmScore: 0, answer: '2', generatedTokens: 1, state: 'end' });
    a.correct = false;
    addChild(tree, nodeAt(tree, 0), { step: 'b', prmScore: 0, answer: null, generatedTokens: 1, state: 'end' });
    for (const kind of ['treerl', 'treerpo', 'quality'] as const) assert.equal(treeAdvantages(tree, { kind, noAnswerReward: 0 }), null);
    // With a penalty for the dead end, the wrong answer is the better path.
    assert.deepEqual(byNode(treeAdvantages(tree, { kind: 'treerl', noAnswerReward: -1 })), { 1: [1, 1], 2: [-1, 1] });
  });

  test('a chain-only tree (best-of-N): TreeRL gives the first step 2(r − mean) and deeper steps r − mean', () => {
    const tree = createTree('q');
    const chain = (answer: string, correct: boolean) => {
      const first = addChild(tree, nodeAt(tree, 0), { step: 's', prmScore: 0, answer: null, generatedTokens: 1, state: 'continue' });
      addChild(tree, first, { step: `A: ${answer}`, prmScore: 0, answer, generatedTokens: 1, state: 'end' }).correct = correct;
    };
    chain('1', true);
    chain('2', false);
    assert.deepEqual(byNode(treeAdvantages(tree, { kind: 'treerl', noAnswerReward: 0 })), { 1: [1, 1], 2: [0.5, 1], 3: [-1, 1], 4: [-0.5, 1] });
  });
});
