// The promotion gate (workflows/promotion.ts): paired against the promoted policy, a drop refused only
// when unlikely under noise. Replays the case measured on main at 1cfd5de, where iterations 3–5 were
// refused for one problem of the 30 one-operator problems while 3 operators improved.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decidePromotion, pairAnswers, promotionSettingsSchema, signTestP, type HeldOutAnswer } from '../workflows/promotion.ts';
import type { BestModels, EvaluationSummary } from '../workflows/types.ts';

const settings = promotionSettingsSchema.parse({});

/** `solved` of `count` questions of a level right: the first ones, after skipping `offset` (so two policies can differ on which). */
function answers(level: string, count: number, solved: number, offset = 0): HeldOutAnswer[] {
  return Array.from({ length: count }, (_, index) => ({ level, question: `${level}:${index}`, correct: (index - offset + count) % count < solved }));
}

/** A policy's answers: 1 op (30 problems), 2 ops (100, all right) and 3 ops (100). */
function policy(oneOp: HeldOutAnswer[], threeOps: HeldOutAnswer[]): HeldOutAnswer[] {
  return [...oneOp, ...answers('2', 100, 100), ...threeOps];
}

function summaryOf(iteration: number, all: HeldOutAnswer[]): EvaluationSummary {
  const accuracyByLevel: Record<string, number> = {};
  for (const level of ['1', '2', '3']) {
    const own = all.filter((answer) => answer.level === level);
    accuracyByLevel[level] = own.filter((answer) => answer.correct).length / own.length;
  }
  const accuracy = Object.values(accuracyByLevel).reduce((a, b) => a + b, 0) / 3;
  return { iteration, accuracyByLevel, accuracy, prmAuc: null, policyPath: `policy-${iteration}`, prmPath: 'prm' };
}

const bestOf = (summary: EvaluationSummary): BestModels => ({ ...summary, prmAuc: null, prmPath: 'prm' });

describe('the sign test', () => {
  test('P(X ≥ losses) under Binomial(losses + wins, 1/2), computed by hand', () => {
    assert.equal(signTestP(1, 0), 0.5);
    assert.equal(signTestP(0, 0), 1);
    assert.equal(signTestP(7, 0), 1 / 128);
    // n = 10, P(X ≥ 8) = (45 + 10 + 1) / 1024
    assert.ok(Math.abs(signTestP(8, 2) - 56 / 1024) < 1e-12);
    assert.equal(signTestP(0, 5), 1);
  });

  test('pairing keeps only questions both answered, per level', () => {
    const candidate = [...answers('1', 3, 2), { level: '1', question: 'extra', correct: true }];
    const promoted = answers('1', 3, 1);
    assert.deepEqual(pairAnswers(candidate, promoted), [{ level: '1', problems: 3, wins: 1, losses: 0 }]);
  });
});

describe('the measured case of 1cfd5de', () => {
  // Reference: 1 op 28/30 (93.3%), 3 ops 59/100.
  const reference = policy(answers('1', 30, 28), answers('3', 100, 59));
  // Candidates: 1 op 27/30 (one problem the reference solved now missed), 3 ops 59, 63 and 60 —
  // each solving the reference's 59 minus two it now misses, plus new ones (offset 2: questions 2..).
  const candidate = (threeOps: number) => policy(answers('1', 30, 27), answers('3', 100, threeOps, -2));

  test('the 63% candidate is promoted although 1 op went 93.3% → 90.0% (one problem of 30)', () => {
    const best = bestOf(summaryOf(2, reference));
    const sixtyThree = decidePromotion(summaryOf(4, candidate(63)), best, pairAnswers(candidate(63), reference), settings);
    assert.equal(sixtyThree.policyPromoted, true, sixtyThree.reason);
    assert.match(sixtyThree.reason, /L1 -1 of 30 \(0 won, 1 lost, p 0\.500\)/);
    // The reference is now the promoted policy's own measurement, not the highest ever seen.
    assert.deepEqual(sixtyThree.best.accuracyByLevel, { '1': 0.9, '2': 1, '3': 0.63 });
  });

  test('in the order they came (59, 63, 60): 59 is no better and waits, 63 is promoted, 60 is not better than 63', () => {
    let best = bestOf(summaryOf(2, reference));
    let promotedAnswers = reference;
    const decisions = [59, 63, 60].map((threeOps, index) => {
      const own = candidate(threeOps);
      const decision = decidePromotion(summaryOf(3 + index, own), best, pairAnswers(own, promotedAnswers), settings);
      if (decision.policyPromoted) {
        best = decision.best;
        promotedAnswers = own;
      }
      return decision.policyPromoted;
    });
    assert.deepEqual(decisions, [false, true, false]);
    assert.equal(best.policyPath, 'policy-4');
  });

  test('a genuine collapse (1 op 70%, 21/30) is refused however much 3 ops gains', () => {
    const collapse = policy(answers('1', 30, 21), answers('3', 100, 80, -2));
    const decision = decidePromotion(summaryOf(4, collapse), bestOf(summaryOf(2, reference)), pairAnswers(collapse, reference), settings);
    assert.equal(decision.policyPromoted, false, decision.reason);
    assert.match(decision.reason, /a significant drop \(p < 0\.05\) at level 1/);
    assert.equal(decision.best.policyPath, 'policy-2');
  });

  test('gate none promotes every candidate, saying so', () => {
    const collapse = policy(answers('1', 30, 21), answers('3', 100, 59));
    const decision = decidePromotion(summaryOf(4, collapse), bestOf(summaryOf(2, reference)), pairAnswers(collapse, reference), { ...settings, gate: 'none' });
    assert.equal(decision.policyPromoted, true);
    assert.match(decision.reason, /policy promoted \(no gate\)/);
  });
});
