import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { editDistance, stepPreferencePairs } from '../reward/preference-pairs.ts';
import { monteCarloLabel, qualityValueTargets } from '../reward/value-targets.ts';
import { addChild, createTree, nodeAt, type SearchTree } from '../search/tree.ts';

/**
 * root ─ a ─ m ─ "A: 5" (correct)
 *      │   └ "A: 6" (wrong)
 *      ├ b ─ "A: 7" (wrong)
 *      ├ c   (never expanded)
 *      └ d ─ e (a dead end: the path ended without an answer)
 */
function handTree(): SearchTree {
  const tree = createTree('q');
  const node = (parent: number, step: string, answer: string | null = null, correct: boolean | null = null) => {
    const child = addChild(tree, nodeAt(tree, parent), { step, prmScore: 0.5, answer, generatedTokens: 1, state: answer === null ? 'open' : 'end' });
    child.correct = correct;
    return child.id;
  };
  const a = node(0, 'a');
  const m = node(a, 'm');
  node(m, 'A: 5', '5', true);
  node(a, 'A: 6', '6', false);
  const b = node(0, 'b');
  node(b, 'A: 7', '7', false);
  node(0, 'c');
  const d = node(0, 'd');
  nodeAt(tree, node(d, 'e')).state = 'end';
  return tree;
}

const stepOf = (tree: SearchTree, id: number): string => nodeAt(tree, id).step;

describe('quality value targets', () => {
  test('reasoning distances, rewards and values match the hand computation', () => {
    const tree = handTree();
    const targets = Object.fromEntries(qualityValueTargets(tree).map((t) => [stepOf(tree, t.nodeId), t]));
    assert.deepEqual(Object.keys(targets).sort(), ['A: 5', 'A: 6', 'A: 7', 'a', 'b', 'd', 'e', 'm'], 'every node on a path to an end leaf; not the unexplored c');
    // Correct path root → a (D 3) → m (D 2) → A: 5 (D 1): v = 1/3, then 1/3 + (2/3)/2 = 2/3, then 1.
    assert.deepEqual([targets.a!.distance, targets.m!.distance, targets['A: 5']!.distance], [3, 2, 1]);
    assert.ok(Math.abs(targets.a!.value - 1 / 3) < 1e-12);
    assert.ok(Math.abs(targets.m!.value - 2 / 3) < 1e-12);
    assert.equal(targets['A: 5']!.value, 1);
    // A: 6 is a wrong end leaf under a (D 3): its outcome is known, so v = 0 (not 1/3 − (2/3)/3 = 1/9).
    assert.equal(targets['A: 6']!.reward, -1);
    assert.equal(targets['A: 6']!.distance, 3);
    assert.equal(targets['A: 6']!.value, 0);
    // The dead end d ─ e counts as wrong, as in the reference: r = −1, D from the root.
    assert.deepEqual([targets.d!.reward, targets.d!.distance, targets.d!.value], [-1, 4, 0]);
    assert.deepEqual([targets.e!.reward, targets.e!.value], [-1, 0]);
    // b leads only to a wrong answer; D comes from the root (4): v = max(0, 0 − 1/4) = 0.
    assert.equal(targets.b!.reward, -1);
    assert.equal(targets.b!.distance, 4);
    assert.equal(targets.b!.value, 0);
    assert.equal(targets['A: 7']!.value, 0);
  });

  test('a tree without a correct answer gives no targets', () => {
    const tree = handTree();
    for (const node of tree.nodes) if (node.correct === true) node.correct = false;
    assert.deepEqual(qualityValueTargets(tree), []);
  });

  test('Monte Carlo labels are the correct fraction and whether any was correct; bad counts are refused', () => {
    assert.deepEqual(monteCarloLabel(3, 8), { soft: 0.375, hard: true });
    assert.deepEqual(monteCarloLabel(0, 4), { soft: 0, hard: false });
    assert.throws(() => monteCarloLabel(5, 4), /\[0, 4\]/);
    assert.throws(() => monteCarloLabel(0, 0), /at least one rollout/);
  });
});

describe('step-level preference pairs', () => {
  test('chosen = highest Q child, rejected = lowest, under parents on a correct path', () => {
    const tree = handTree();
    const pairs = stepPreferencePairs(tree, qualityValueTargets(tree), { minGap: 0.3 });
    assert.deepEqual(
      pairs.map((p) => [p.prefix.join('|'), p.chosen, p.rejected]),
      [['', 'a', 'b'], ['a', 'm', 'A: 6']],
      'root: a (1/3) over b (0, the first of the lowest); under a: m (2/3) over A: 6 (0); b is on no correct path',
    );
    assert.deepEqual([pairs[1]!.chosenQ, pairs[1]!.rejectedQ].map((q) => q.toFixed(4)), ['0.6667', '0.0000']);
  });

  test('the gap and edit-distance filters drop pairs', () => {
    const tree = handTree();
    const targets = qualityValueTargets(tree);
    const loose = stepPreferencePairs(tree, targets, { minGap: 0.2 });
    assert.deepEqual(loose.map((p) => [p.chosen, p.rejected]), [['a', 'b'], ['m', 'A: 6']]);
    assert.deepEqual(stepPreferencePairs(tree, targets, { minGap: 0.5 }).map((p) => [p.chosen, p.rejected]), [['m', 'A: 6']]);
    assert.deepEqual(stepPreferencePairs(tree, targets, { minGap: 0.2, minEditDistance: 2 }).map((p) => [p.chosen, p.rejected]), [['m', 'A: 6']]);
  });

  test('edit distance', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('7+15', '7+15'), 0);
  });
});
