import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bStarMonitors, firstErrorAccuracy, majorityVote, passAtK, rocAuc } from '../evaluate/metrics.ts';
import { allocateBudget } from '../search/budget.ts';

const near = (a: number | null, b: number, what = ''): void => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${what} ${a} != ${b}`);

describe('evaluation metrics', () => {
  test('ROC AUC: perfect, inverted, chance with ties, and a hand-counted case', () => {
    near(rocAuc([0.9, 0.8, 0.2, 0.1], [true, true, false, false]), 1);
    near(rocAuc([0.1, 0.2, 0.8, 0.9], [true, true, false, false]), 0);
    near(rocAuc([0.5, 0.5, 0.5, 0.5], [true, false, true, false]), 0.5);
    // Positives 0.8, 0.4; negatives 0.6, 0.2: pairs won 0.8>0.6, 0.8>0.2, 0.4>0.2 → 3 of 4.
    near(rocAuc([0.8, 0.4, 0.6, 0.2], [true, true, false, false]), 0.75);
    assert.equal(rocAuc([0.3, 0.4], [true, true]), null);
  });

  test('pass@k is the unbiased estimator', () => {
    near(passAtK(5, 0, 1), 0);
    near(passAtK(5, 5, 3), 1);
    near(passAtK(4, 1, 1), 0.25);
    near(passAtK(4, 1, 2), 1 - (3 / 4) * (2 / 3));
    near(passAtK(10, 3, 10), 1);
    assert.throws(() => passAtK(3, 4, 1), /0 <= c <= n/);
  });

  test('majority vote ignores nulls and breaks ties by first appearance', () => {
    assert.equal(majorityVote(['3', null, '4', '4', '3']), '3');
    assert.equal(majorityVote(['7', '8', '8']), '8');
    assert.equal(majorityVote([null, null]), null);
  });

  test('first-error location: the first value below the threshold must be the first wrong step', () => {
    near(
      firstErrorAccuracy([
        { values: [0.9, 0.2, 0.1], labels: [true, false, false] },
        { values: [0.9, 0.8, 0.7], labels: [true, true, true] },
        { values: [0.3, 0.9], labels: [true, false] },
      ]),
      2 / 3,
    );
  });

  test('B-STaR monitors', () => {
    const monitors = bStarMonitors(
      [
        { samples: [{ correct: true, reward: 0.9, text: 'a' }, { correct: true, reward: 0.8, text: 'a' }, { correct: false, reward: 0.3 }] },
        { samples: [{ correct: false, reward: 0.6 }, { correct: true, reward: 0.7, text: 'b' }, { correct: true, reward: 0.4, text: 'c' }] },
      ],
      1,
    );
    near(monitors.passAtK, 2 / 3, 'pass@1');
    near(monitors.distinctCorrect, 1.5, 'distinct');
    // Correct rewards 0.9, 0.8, 0.7, 0.4 vs wrong 0.3, 0.6: won 4 + 3 = 7 of 8 pairs.
    near(monitors.rewardAuc, 7 / 8, 'reward AUC');
  });
});

describe('budget allocation', () => {
  test('problems always or never solved get only the floor; uncertain ones get the rest', () => {
    const budgets = allocateBudget([1, 0, 0.5, 0.5], { total: 20, floor: 1 });
    assert.deepEqual(budgets, [1, 1, 9, 9]);
  });

  test('shares follow p(1-p) and unseen problems count as p = 1/2', () => {
    const budgets = allocateBudget([0.5, 0.1, null], { total: 43, floor: 0 });
    // Weights 0.25, 0.09, 0.25 → 43 × (0.25, 0.09, 0.25) / 0.59 = 18.2, 6.6, 18.2.
    assert.deepEqual(budgets, [18, 7, 18]);
    assert.equal(budgets.reduce((a, b) => a + b, 0), 43);
  });

  test('caps, exact totals and bad input', () => {
    const budgets = allocateBudget([0.5, 0.5, 0], { total: 12, floor: 1, cap: 5 });
    assert.deepEqual(budgets, [5, 5, 2]);
    assert.deepEqual(allocateBudget([], { total: 10 }), []);
    assert.deepEqual(allocateBudget([0.5, 0.5], { total: 1, floor: 3 }), [1, 0]);
    assert.throws(() => allocateBudget([1.5], { total: 1 }), /\[0, 1\]/);
    assert.throws(() => allocateBudget([0.5], { total: 10, cap: 2 }), /cannot hold/);
  });
});
