/**
 * Verifiers: for each task family, where a step states the final answer (the search's StepReader),
 * whether an answer is right, and for the arithmetic task the exact label of every step.
 */
import type { SearchTree } from '../search/tree.ts';
import type { StepReader } from '../search/types.ts';
import { extractAnswer, labelSolution, STEP_DELIMITER } from '../tasks/arithmetic.ts';
import { extractBoxed, extractGsm8kAnswer, mathAnswersEqual, normalizeNumber } from './answers.ts';

export interface Verifier extends StepReader {
  /** Whether `answer` (as answerOf returned it) matches the reference answer `gold`. */
  isCorrect(answer: string, gold: string): boolean;
}

export const arithmeticVerifier = {
  answerOf(step: string): string | null {
    const answer = extractAnswer(step);
    return answer === null ? null : String(answer);
  },
  isCorrect: (answer: string, gold: string): boolean => Number(answer) === Number(gold) && answer.trim() !== '',
  /** Exact ground truth per step: valid reductions and a right answer line are true. */
  stepLabels(question: string, steps: readonly string[]): boolean[] {
    return labelSolution(question, steps.map((step) => step + STEP_DELIMITER).join('')).map((line) => line.valid);
  },
} satisfies Verifier & { stepLabels(question: string, steps: readonly string[]): boolean[] };

/** Prefix labels from step labels: 1 only while every step up to it is valid (what a PRM should predict). */
export function prefixLabels(stepValid: readonly boolean[]): number[] {
  let allValid = true;
  return stepValid.map((valid) => {
    allValid &&= valid;
    return allValid ? 1 : 0;
  });
}

export const gsm8kVerifier: Verifier = {
  answerOf: (step) => (/####|the (?:final )?answer is/i.test(step) ? extractGsm8kAnswer(step) : null),
  isCorrect: (answer, gold) => {
    const expected = normalizeNumber(gold) ?? extractGsm8kAnswer(gold);
    return expected !== null && normalizeNumber(answer) === expected;
  },
};

export const mathVerifier: Verifier = {
  answerOf: (step) => extractBoxed(step),
  isCorrect: (answer, gold) => mathAnswersEqual(answer, extractBoxed(gold) ?? gold),
};

export const VERIFIERS = { arithmetic: arithmeticVerifier, gsm8k: gsm8kVerifier, math: mathVerifier } as const;
export type VerifierName = keyof typeof VERIFIERS;

/** Sets `correct` on every answer leaf of the tree (and null elsewhere); returns how many are correct. */
export function markCorrectness(tree: SearchTree, verifier: Verifier, gold: string): number {
  let correct = 0;
  for (const node of tree.nodes) {
    node.correct = node.answer === null ? null : verifier.isCorrect(node.answer, gold);
    if (node.correct === true) correct += 1;
  }
  return correct;
}
