import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { beamSearch, bestOfNSearch, greedySearch } from '../search/baselines.ts';
import { nodeAt } from '../search/tree.ts';
import { answerLineReader, scriptedPolicy, valueTable } from './search-fakes.ts';

describe('baselines', () => {
  test('greedy follows the greedy step until an answer and counts its tokens', async () => {
    const policy = scriptedPolicy({}, { '': 'x', x: 'y', 'x|y': 'A: 3' });
    const outcome = await greedySearch({ question: 'q', policy, reader: answerLineReader });
    assert.equal(outcome.answer, '3');
    assert.equal(outcome.tree.nodes.length, 4);
    assert.equal(outcome.stats.generatedTokens, 1 + 1 + 4);
  });

  test('greedy stops at the depth limit without an answer', async () => {
    const outcome = await greedySearch({ question: 'q', policy: scriptedPolicy({}, {}), reader: answerLineReader, maxDepth: 3 });
    assert.equal(outcome.answer, null);
  });

  // Five sampled chains: 3 end in "A: 1", 2 in "A: 2"; the PRM prefers the "A: 2" chains.
  const chains = { '': [['p', 'p', 'p', 'r', 'r']], p: [['A: 1']], r: [['A: 2']] };
  const prm = { 'A: 1': 0.2, 'A: 2': 0.9 };

  test('best-of-N votes, or ranks by the PRM score of each finished chain', async () => {
    const vote = await bestOfNSearch({ question: 'q', policy: scriptedPolicy(chains), reader: answerLineReader, n: 5, pick: 'vote' });
    assert.equal(vote.answer, '1');
    assert.equal(vote.stats.generatedTokens, 5 + 5 * 4);
    const ranked = await bestOfNSearch({ question: 'q', policy: scriptedPolicy(chains), value: valueTable(prm), reader: answerLineReader, n: 5, pick: 'prm' });
    assert.equal(ranked.answer, '2');
    assert.equal(ranked.stats.prefixesScored, 5);
    await assert.rejects(bestOfNSearch({ question: 'q', policy: scriptedPolicy(chains), reader: answerLineReader, n: 5, pick: 'prm' }), /needs a value function/);
  });

  test('beam search keeps the best-scored prefixes and returns the best finished path', async () => {
    const policy = scriptedPolicy({ '': [['u', 'v', 'w']], u: [['A: 1', 'u2']], v: [['A: 2', 'v2']], w: [['A: 3']] });
    const outcome = await beamSearch({ question: 'q', policy, value: valueTable({ u: 0.9, v: 0.8, w: 0.1, 'A: 1': 0.3, 'A: 2': 0.7, u2: 0.1, v2: 0.1 }), reader: answerLineReader, width: 2, expansions: 2 });
    assert.equal(outcome.answer, '2');
    assert.ok(!policy.calls.includes('w'), 'w fell out of the beam');
    assert.equal(nodeAt(outcome.tree, outcome.answerNode ?? 0).step, 'A: 2');
  });
});
