/**
 * PRM quality on held-out solutions: every prefix of every given solution is scored by the PRM.
 * Where the task checks steps exactly (arithmetic), each prefix is compared with its exact label
 * (valid while every step so far is valid): step ROC AUC and the accuracy of locating the first
 * wrong step. Elsewhere only the outcome is known: the AUC of the whole solution's value against
 * its final answer's correctness.
 */
import { plainPrompt } from '../engine/prompt.ts';
import { prmValue, type LabelLogProbs } from '../reward/value-functions.ts';
import { prefixLabels } from '../reward/verifiers.ts';
import type { Task } from '../tasks/index.ts';
import { firstErrorAccuracy, rocAuc } from './metrics.ts';

export interface PrmQuality {
  /** Step AUC (exact labels) or outcome AUC (final answers), as `kind` says. */
  auc: number | null;
  kind: 'step' | 'outcome';
  firstErrorAccuracy: number | null;
  prefixes: number;
}

export async function prmQuality(scorer: LabelLogProbs, task: Task, solutions: readonly { question: string; completion: string; correct: boolean }[], onProgress?: (done: number) => void): Promise<PrmQuality> {
  const scores: number[] = [];
  const labels: boolean[] = [];
  const located: { values: number[]; labels: boolean[] }[] = [];
  const { stepLabels } = task;
  for (const [index, { question, completion, correct }] of solutions.entries()) {
    const steps = completion.split(task.delimiter).filter((step) => step.trim() !== '');
    if (steps.length > 0) {
      const value = prmValue(scorer, plainPrompt(task.prompt, question));
      if (stepLabels === undefined) {
        const [whole] = await value.scorePrefixes([steps]);
        scores.push(whole ?? 0);
        labels.push(correct);
      } else {
        const values = await value.scorePrefixes(steps.map((_, end) => steps.slice(0, end + 1)));
        const truth = prefixLabels(stepLabels(question, steps)).map((label) => label === 1);
        scores.push(...values);
        labels.push(...truth);
        located.push({ values, labels: truth });
      }
    }
    onProgress?.(index + 1);
  }
  return { auc: rocAuc(scores, labels), kind: stepLabels === undefined ? 'outcome' : 'step', firstErrorAccuracy: stepLabels === undefined ? null : firstErrorAccuracy(located), prefixes: scores.length };
}
