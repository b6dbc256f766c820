import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backpropagate, mctsSearch, uctScore } from '../search/mcts.ts';
import { addChild, childrenOf, createTree, nodeAt, type SearchTree } from '../search/tree.ts';
import { answerLineReader, scriptedPolicy, valueTable } from './search-fakes.ts';

const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

function byStep(tree: SearchTree, step: string) {
  const node = tree.nodes.find((candidate) => candidate.step === step);
  assert.ok(node, `no node ${step}`);
  return node;
}

// Root expands into a (0.6), b (0.3), c (0.2); b into b1..b3; a into a1 = the answer "A: 5" (0.95), a2, a3.
const script = {
  '': [['a', 'b', 'c']],
  b: [['b1', 'b2', 'b3']],
  a: [['A: 5', 'a2', 'a3']],
};
const values = { a: 0.6, b: 0.3, c: 0.2, b1: 0.5, b2: 0.4, b3: 0.1, 'A: 5': 0.95, a2: 0.6, a3: 0.2 };
const noRoll = { exploration: 0.5, unvisitedBonus: 0.9, endGate: 0.9, branch: 3, rollForward: 0, seed: 7 };

describe('MCTS*', () => {
  test('UCT: unvisited children score V + INF, visited ones V + C·sqrt(2 ln N / n)', () => {
    const config = { exploration: 0.5, unvisitedBonus: 0.9 };
    const node = { ...createTree('q').nodes[0]!, value: 0.4 };
    close(uctScore({ ...node, visits: 0 }, 5, config), 1.3, 'unvisited');
    close(uctScore({ ...node, visits: 2 }, 4, config), 0.4 + 0.5 * Math.sqrt((2 * Math.log(4)) / 2), 'visited');
  });

  test('backup sets each ancestor to the visit-weighted mean of its children', () => {
    const tree = createTree('q');
    const root = nodeAt(tree, 0);
    root.state = 'continue';
    const a = addChild(tree, root, { step: 'a', prmScore: 0.8, answer: null, generatedTokens: 1, state: 'open' });
    const b = addChild(tree, root, { step: 'b', prmScore: 0.2, answer: null, generatedTokens: 1, state: 'open' });
    a.visits = 3;
    b.visits = 1;
    backpropagate(tree, root);
    assert.equal(root.visits, 1);
    close(root.value, (3 * 0.8 + 1 * 0.2) / 4, 'root V');
  });

  test('three rounds without roll-forward give the visit counts and values computed by hand', async () => {
    const { tree, stats } = await mctsSearch({ question: 'q', policy: scriptedPolicy(script), value: valueTable(values), reader: answerLineReader, config: { ...noRoll, iterations: 3 } });
    // Round 1 expands the root (best child a gets the visit); round 2 picks unvisited b (0.3 + 0.9 > c's 1.1);
    // round 3 picks a: 0.6 + 0.5·sqrt(2 ln 2) = 1.189 beats c's 1.1 and b's 1.089, and expands it.
    const root = nodeAt(tree, 0);
    assert.equal(root.visits, 3);
    close(root.value, (2 * 0.95 + 1 * 0.5) / 3, 'root V');
    assert.equal(byStep(tree, 'a').visits, 2);
    close(byStep(tree, 'a').value, 0.95, 'V(a) backed up from its answer child');
    assert.equal(byStep(tree, 'b').visits, 1);
    close(byStep(tree, 'b').value, 0.5, 'V(b)');
    assert.equal(byStep(tree, 'c').visits, 0);
    assert.equal(byStep(tree, 'c').state, 'open');
    assert.equal(byStep(tree, 'A: 5').state, 'end');
    assert.equal(byStep(tree, 'A: 5').answer, '5');
    assert.equal(tree.nodes.length, 10);
    assert.equal(stats.generatedTokens, 3 + 6 + 8);
    assert.equal(stats.prefixesScored, 9);
  });

  test('eval mode stops at the first selected node over the end gate and returns its answer', async () => {
    const policy = scriptedPolicy(script);
    const outcome = await mctsSearch({ question: 'q', policy, value: valueTable(values), reader: answerLineReader, config: { ...noRoll, iterations: 50, mode: 'eval' } });
    // Round 4 selects a (1.474) then its answer child A: 5 (0.95 + 0.589 = 1.539 > a2's 0.6 + 0.9).
    assert.equal(outcome.answer, '5');
    assert.equal(outcome.answerNode, byStep(outcome.tree, 'A: 5').id);
    assert.equal(nodeAt(outcome.tree, 0).visits, 3, 'no round after the gated node was selected');
  });

  test('data mode marks the gated node an end leaf, counts its visit and searches on', async () => {
    const outcome = await mctsSearch({ question: 'q', policy: scriptedPolicy(script), value: valueTable(values), reader: answerLineReader, config: { ...noRoll, iterations: 4, mode: 'data' } });
    const root = nodeAt(outcome.tree, 0);
    assert.equal(root.visits, 4);
    assert.equal(byStep(outcome.tree, 'A: 5').visits, 2);
    assert.equal(byStep(outcome.tree, 'a').visits, 3);
    close(root.value, (3 * 0.95 + 1 * 0.5) / 4, 'root V after the end leaf is revisited');
    assert.equal(outcome.answer, '5');
  });

  test('roll-forward mixes its best value into the new child with weight α and adds no nodes', async () => {
    const policy = scriptedPolicy({ '': [['a', 'b', 'c']], a: [['A: 5']] });
    const outcome = await mctsSearch({ question: 'q', policy, value: valueTable(values), reader: answerLineReader, config: { ...noRoll, rollForward: 2, alpha: 0.5, iterations: 1 } });
    const a = byStep(outcome.tree, 'a');
    close(a.value, 0.5 * 0.6 + 0.5 * 0.95, 'V(a) = (1-α)·0.6 + α·max V of the roll');
    assert.equal(a.visits, 1);
    close(nodeAt(outcome.tree, 0).value, a.value, 'root V');
    assert.equal(outcome.tree.nodes.length, 4, 'rolled steps are not tree nodes');
    assert.deepEqual(policy.calls, ['', 'a'], 'the roll stopped at the answer step');
    assert.equal(outcome.stats.generatedTokens, 3 + 4);
  });

  test('duplicate candidates are rejected and replaced by retries', async () => {
    const policy = scriptedPolicy({ '': [['x', 'x', 'y'], ['y'], ['z']] });
    const outcome = await mctsSearch({ question: 'q', policy, value: valueTable({}), reader: answerLineReader, config: { ...noRoll, iterations: 1 } });
    assert.deepEqual(childrenOf(outcome.tree, nodeAt(outcome.tree, 0)).map((n) => n.step), ['x', 'y', 'z']);
    assert.equal(outcome.stats.policyCalls, 3);
  });

  test('the search ends early once every path has ended, and stops at its token budget', async () => {
    const finite = await mctsSearch({ question: 'q', policy: scriptedPolicy({ '': [['A: 1', 'A: 2']] }), value: valueTable({ 'A: 1': 0.2, 'A: 2': 0.4 }), reader: answerLineReader, config: { ...noRoll, iterations: 100 } });
    assert.ok(nodeAt(finite.tree, 0).visits < 100, `root visits ${nodeAt(finite.tree, 0).visits}`);
    assert.equal(finite.answer, '2', 'the highest-V answer leaf');

    const budgeted = await mctsSearch({ question: 'q', policy: scriptedPolicy({ '*': [['aaaa', 'bbbb', 'cccc']] }), value: valueTable({}), reader: answerLineReader, config: { ...noRoll, iterations: 100, maxGeneratedTokens: 20 } });
    assert.ok(budgeted.stats.generatedTokens >= 20 && budgeted.stats.generatedTokens < 20 + 12, `spent ${budgeted.stats.generatedTokens}`);
  });

  test('answerBy vote sums V over leaves with the same answer', async () => {
    const policy = scriptedPolicy({ '': [['A: 7', 'A: 7 ', 'A: 8']] });
    const reader = { answerOf: (step: string) => /^A: (\d+)/.exec(step)?.[1] ?? null };
    const outcome = await mctsSearch({ question: 'q', policy, value: valueTable({ 'A: 7': 0.5, 'A: 7 ': 0.5, 'A: 8': 0.8 }), reader, config: { ...noRoll, iterations: 1, answerBy: 'vote' } });
    assert.equal(outcome.answer, '7');
    const best = await mctsSearch({ question: 'q', policy: scriptedPolicy({ '': [['A: 7', 'A: 7 ', 'A: 8']] }), value: valueTable({ 'A: 7': 0.5, 'A: 7 ': 0.5, 'A: 8': 0.8 }), reader, config: { ...noRoll, iterations: 1 } });
    assert.equal(best.answer, '8');
  });
});
