/**
 * Value functions for the search (search/types.ts PrefixValue): the PRM's, and two stand-ins
 * usable before any PRM exists — policy self-evaluation and Monte Carlo rollouts (Math-Shepherd).
 * Pure: model calls come through the small interfaces below.
 */
import type { PrefixValue, StepPolicy } from '../search/types.ts';
import { DEFAULT_PRM_FORMAT, layoutPrmText, prmValueFromLogProbs, type PrmFormat } from './prm-format.ts';
import type { Verifier } from './verifiers.ts';

export interface LabelLogProbs {
  /**
   * For each text (given as chunks: the first tokenized as the start of a text, the rest as
   * continuations), the log-probabilities of each label as the next token after it.
   */
  labelLogProbs(texts: readonly (readonly string[])[], labels: readonly string[]): Promise<number[][]>;
}

/** PRM value of question ⊕ steps = P(good)/(P(good)+P(bad)) after the last step's separator (reward/prm-format.ts). */
export function prmValue(model: LabelLogProbs, prompt: string, format: PrmFormat = DEFAULT_PRM_FORMAT): PrefixValue {
  return {
    async scorePrefixes(prefixes) {
      const texts = prefixes.map((steps) => layoutPrmText(prompt, steps, format).chunks);
      const logProbs = await model.labelLogProbs(texts, [format.goodLabel, format.badLabel]);
      return logProbs.map(([good, bad]) => prmValueFromLogProbs(good ?? -Infinity, bad ?? -Infinity));
    },
  };
}

/**
 * Policy self-evaluation: the policy reads its own prefix followed by `question` (e.g.
 * "\nIs every step above correct? Answer yes or no:") and the value is P(yes)/(P(yes)+P(no)).
 */
export function selfEvaluationValue(model: LabelLogProbs, prompt: string, options: { separator: string; question: string; yes: string; no: string }): PrefixValue {
  return {
    async scorePrefixes(prefixes) {
      const texts = prefixes.map((steps) => [prompt, ...steps.map((step) => step + options.separator), options.question]);
      const logProbs = await model.labelLogProbs(texts, [options.yes, options.no]);
      return logProbs.map(([yes, no]) => prmValueFromLogProbs(yes ?? -Infinity, no ?? -Infinity));
    },
  };
}

/**
 * Monte Carlo value (Math-Shepherd): the fraction of `rollouts` sampled completions of the prefix
 * that reach the reference answer. Needs the answer, so it labels training problems only.
 */
export function monteCarloValue(options: { policy: StepPolicy; verifier: Verifier; gold: string; rollouts: number; maxDepth: number }): PrefixValue & { generatedTokens: () => number } {
  let generated = 0;
  const rollout = async (prefix: readonly string[]): Promise<boolean> => {
    const steps = [...prefix];
    for (;;) {
      const last = steps.at(-1);
      const answer = last === undefined ? null : options.verifier.answerOf(last);
      if (answer !== null) return options.verifier.isCorrect(answer, options.gold);
      if (steps.length >= options.maxDepth) return false;
      const [step] = await options.policy.proposeSteps(steps, 1);
      if (step === undefined) return false;
      generated += step.generatedTokens;
      steps.push(step.text);
    }
  };
  return {
    generatedTokens: () => generated,
    async scorePrefixes(prefixes) {
      return Promise.all(
        prefixes.map(async (prefix) => {
          let correct = 0;
          for (let index = 0; index < options.rollouts; index++) if (await rollout(prefix)) correct += 1;
          return correct / options.rollouts;
        }),
      );
    },
  };
}
