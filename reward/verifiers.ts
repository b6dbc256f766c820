/**
 * Outcome checking on search trees: a Verifier is what a search and its labels need of a task
 * (where a step states the final answer, whether an answer is right; tasks/ provides it).
 */
import type { SearchTree } from '../search/tree.ts';
import type { StepReader } from '../search/types.ts';

export interface Verifier extends StepReader {
  /** Whether `answer` (as answerOf returned it) matches the reference answer `gold`. */
  isCorrect(answer: string, gold: string): boolean;
}

/** Prefix labels from step labels: 1 only while every step up to it is valid (what a PRM should predict). */
export function prefixLabels(stepValid: readonly boolean[]): number[] {
  let allValid = true;
  return stepValid.map((valid) => {
    allValid &&= valid;
    return allValid ? 1 : 0;
  });
}

/** Sets `correct` on every answer leaf of the tree (and null elsewhere); returns how many are correct. */
export function markCorrectness(tree: SearchTree, verifier: Verifier, gold: string): number {
  let correct = 0;
  for (const node of tree.nodes) {
    node.correct = node.answer === null ? null : verifier.isCorrect(node.answer, gold);
    if (node.correct === true) correct += 1;
  }
  return correct;
}
