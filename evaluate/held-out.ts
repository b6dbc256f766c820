/**
 * Fixed held-out problem sets (test split of the arithmetic task), so every evaluation of a model —
 * `npm start`, `npm run bench:micro`, later iterations of the loop — scores the same questions.
 */
import { generateProblems, type ArithmeticProblem } from '../tasks/arithmetic.ts';

export interface HeldOutSpec {
  seed: number;
  /** Problems per number of operators. */
  perOperator: Record<number, number>;
}

/** 1 operator has only 30 test-split questions in all: every one of them is used. */
export const MICRO_HELD_OUT: HeldOutSpec = { seed: 20261122, perOperator: { 1: 30, 2: 200, 3: 200, 4: 200, 5: 200 } };

export function heldOutProblems(spec: HeldOutSpec): ArithmeticProblem[] {
  return Object.entries(spec.perOperator).flatMap(([operators, count]) =>
    generateProblems({ seed: spec.seed, operators: Number(operators), count, split: 'test' }),
  );
}
