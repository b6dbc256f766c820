/**
 * The evaluation activity: held-out greedy accuracy of the candidate policy by number of operators
 * (fixed problems: evaluate/held-out.ts), and the candidate PRM's step-level ROC AUC against the
 * task's exact prefix labels on those greedy solutions. Everything is recorded in the database.
 */
import { evaluateGreedy } from '../evaluate/greedy.ts';
import { heldOutProblems, MICRO_HELD_OUT } from '../evaluate/held-out.ts';
import { prmStepQuality } from '../evaluate/prm-quality.ts';
import { evaluateSearchMethods } from '../evaluate/search-methods.ts';
import type { EvaluationSummary } from '../workflows/types.ts';
import { heartbeat } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { runContext } from './run-context.ts';

export async function evaluateModels({ runDir, iteration, policyPath, prmPath }: { runDir: string; iteration: number; policyPath: string; prmPath: string }): Promise<EvaluationSummary> {
  const { store, config } = runContext(runDir);
  const perOperator = Object.fromEntries(config.task.evalOperators.map((operators) => [operators, Math.min(config.task.evalProblemsPerOperator, operators === 1 ? 30 : Infinity)]));
  const problems = heldOutProblems({ seed: MICRO_HELD_OUT.seed, perOperator });
  const total = problems.length * 2;
  const greedy = await evaluateGreedy({ modelPath: policyPath, problems, threads: config.threads, sequences: config.sequences, onProgress: (done) => heartbeat({ stage: 'evaluate policy', done, total }) });
  const accuracyByOperators = Object.fromEntries(Object.entries(greedy.byOperators).map(([operators, tally]) => [operators, tally.accuracy]));
  const accuracies = Object.values(accuracyByOperators);
  const accuracy = accuracies.reduce((a, b) => a + b, 0) / Math.max(1, accuracies.length);

  // PRM quality: every prefix of every greedy solution, scored, against its exact label.
  const quality = await prmStepQuality(
    await prmScorer(prmPath, config),
    greedy.samples.map((sample) => ({ question: sample.question, completion: sample.completion })),
    (done) => heartbeat({ stage: 'evaluate PRM', done: problems.length + done, total }),
  );
  const prmAuc = quality.auc;

  const policyModelId = store.modelIdByPath(policyPath);
  for (const [operators, tally] of Object.entries(greedy.byOperators)) {
    store.recordEvaluation({ iteration, modelId: policyModelId, method: 'greedy', split: 'test', metric: `accuracy_${operators}op`, value: tally.accuracy });
  }
  store.recordEvaluation({ iteration, modelId: policyModelId, method: 'greedy', split: 'test', metric: 'accuracy', value: accuracy });
  // Search-based answers on a held-out subset: vote@k, PRM-ranked best-of-k, MCTS*, and pass@k.
  const searchPerOperator = config.task.evalSearchProblemsPerOperator;
  if (searchPerOperator > 0) {
    const subset = heldOutProblems({ seed: MICRO_HELD_OUT.seed, perOperator: Object.fromEntries(config.task.evalOperators.map((operators) => [operators, Math.min(searchPerOperator, perOperator[operators] ?? 0)])) });
    const { generator, prompt } = await policyGenerator(policyPath, config);
    const methods = await evaluateSearchMethods({
      generator,
      prompt,
      scorer: await prmScorer(prmPath, config),
      problems: subset,
      k: config.task.evalSamples,
      mctsIterations: config.search.iterationsPerProblem,
      concurrency: config.sequences,
      seed: MICRO_HELD_OUT.seed,
      onProgress: (done, count) => heartbeat({ stage: 'evaluate search', done, total: count }),
    });
    const k = config.task.evalSamples;
    for (const [method, byOperators] of Object.entries({ [`vote@${k}`]: methods.accuracy.vote, [`prm-best-of-${k}`]: methods.accuracy['prm-best-of-k'], mcts: methods.accuracy.mcts })) {
      for (const [operators, value] of Object.entries(byOperators)) store.recordEvaluation({ iteration, modelId: policyModelId, method, split: 'test', metric: `accuracy_${operators}op`, value });
    }
    for (const [operators, value] of Object.entries(methods.passAtK)) store.recordEvaluation({ iteration, modelId: policyModelId, method: 'samples', split: 'test', metric: `pass@${k}_${operators}op`, value });
  }
  const prmModelId = store.modelIdByPath(prmPath);
  if (prmAuc !== null) store.recordEvaluation({ iteration, modelId: prmModelId, method: 'prm', split: 'test', metric: 'step_auc', value: prmAuc });
  if (quality.firstErrorAccuracy !== null) store.recordEvaluation({ iteration, modelId: prmModelId, method: 'prm', split: 'test', metric: 'first_error_accuracy', value: quality.firstErrorAccuracy });
  return { iteration, accuracyByOperators, accuracy, prmAuc, training: store.trainingMetrics(iteration), policyPath, prmPath };
}
