/**
 * PRM step-level quality on the arithmetic task: every prefix of every given solution is scored by
 * the PRM and compared with its exact label (valid while every step so far is valid): ROC AUC and
 * the accuracy of locating the first wrong step.
 */
import { prmValue, type LabelLogProbs } from '../reward/prm-scorer.ts';
import { arithmeticVerifier, prefixLabels } from '../reward/verifiers.ts';
import { formatPrompt, STEP_DELIMITER } from '../tasks/arithmetic.ts';
import { firstErrorAccuracy, rocAuc } from './metrics.ts';

export interface PrmQuality {
  auc: number | null;
  firstErrorAccuracy: number | null;
  prefixes: number;
}

export async function prmStepQuality(scorer: LabelLogProbs, solutions: readonly { question: string; completion: string }[], onProgress?: (done: number) => void): Promise<PrmQuality> {
  const scores: number[] = [];
  const labels: boolean[] = [];
  const located: { values: number[]; labels: boolean[] }[] = [];
  for (const [index, { question, completion }] of solutions.entries()) {
    const steps = completion.split(STEP_DELIMITER).filter((line) => line !== '');
    if (steps.length > 0) {
      const values = await prmValue(scorer, formatPrompt(question)).scorePrefixes(steps.map((_, end) => steps.slice(0, end + 1)));
      const truth = prefixLabels(arithmeticVerifier.stepLabels(question, steps)).map((label) => label === 1);
      scores.push(...values);
      labels.push(...truth);
      located.push({ values, labels: truth });
    }
    onProgress?.(index + 1);
  }
  return { auc: rocAuc(scores, labels), firstErrorAccuracy: firstErrorAccuracy(located), prefixes: scores.length };
}
