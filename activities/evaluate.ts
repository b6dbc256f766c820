/**
 * The evaluation activity: held-out greedy accuracy of the candidate policy by level (fixed
 * problems: evaluate/held-out.ts), search-based accuracy on a subset, and the candidate PRM's
 * quality on the greedy solutions (step AUC against exact labels where the task checks steps,
 * outcome AUC elsewhere). Inference queue, no database: everything goes into the iteration's
 * evaluation artifact at once, at the end, which the CPU queue records; an evaluation found
 * written (a resumed run, a retry) is read back, never redone.
 */
import { evaluateGreedy } from '../evaluate/greedy.ts';
import { heldOutProblems, HELD_OUT_SEED } from '../evaluate/held-out.ts';
import { prmQuality } from '../evaluate/prm-quality.ts';
import { evaluateSearchMethods } from '../evaluate/search-methods.ts';
import { runLevels } from '../tasks/index.ts';
import { levelMetric, type ActivityInput, type EvaluationSummary } from '../workflows/types.ts';
import { EvaluationArtifactSchema, readJsonArtifact, writeJsonArtifact, type EvaluationArtifact } from './artifacts.ts';
import { heartbeat } from './heartbeat.ts';
import { policyGenerator, prmScorer } from './models.ts';
import { runFiles } from './run-context.ts';
import { evaluationArtifact } from './run-dir.ts';

export async function evaluateModels({ runDir, iteration, policyPath, prmPath }: ActivityInput<'evaluateModels'>): Promise<EvaluationSummary> {
  const { config, task } = runFiles(runDir);
  const artifact = evaluationArtifact(runDir, iteration);
  const done = readJsonArtifact(artifact, EvaluationArtifactSchema);
  if (done !== null) return done.summary;
  const records: EvaluationArtifact['metrics'] = [];
  const levels = runLevels(task, config.task).eval;
  const perLevel = (count: number) => Object.fromEntries(levels.map((level) => [level, count]));
  const problems = heldOutProblems(task, perLevel(config.task.evalProblemsPerLevel));
  const total = problems.length * 2;
  const greedy = await evaluateGreedy({ modelPath: policyPath, task, problems, threads: config.threads, sequences: config.sequences, engine: config.engine, onProgress: (done) => heartbeat({ stage: 'evaluate policy', done, total }) });
  const accuracyByLevel = Object.fromEntries(Object.entries(greedy.byLevel).map(([level, tally]) => [level, tally.accuracy]));
  const flexibleAccuracyByLevel = Object.fromEntries(Object.entries(greedy.byLevel).map(([level, tally]) => [level, tally.flexibleAccuracy]));
  const hiddenAnswersByLevel = Object.fromEntries(Object.entries(greedy.byLevel).map(([level, tally]) => [level, tally.hiddenAnswers]));
  const accuracies = Object.values(accuracyByLevel);
  const accuracy = accuracies.reduce((a, b) => a + b, 0) / Math.max(1, accuracies.length);

  // PRM quality: every prefix of every greedy solution, scored, against its label.
  const quality = await prmQuality(await prmScorer(prmPath, config, task), task, greedy.samples, (done) => heartbeat({ stage: 'evaluate PRM', done: problems.length + done, total }));

  for (const [level, tally] of Object.entries(greedy.byLevel)) {
    records.push({ modelPath: policyPath, method: 'greedy', split: 'test', metric: levelMetric('accuracy', level), value: tally.accuracy });
    records.push({ modelPath: policyPath, method: 'greedy-flexible', split: 'test', metric: levelMetric('accuracy', level), value: tally.flexibleAccuracy });
    records.push({ modelPath: policyPath, method: 'greedy-flexible', split: 'test', metric: levelMetric('hidden_answers', level), value: tally.hiddenAnswers });
  }
  records.push({ modelPath: policyPath, method: 'greedy', split: 'test', metric: 'accuracy', value: accuracy });
  // Search-based answers on a held-out subset: vote@k, PRM-ranked best-of-k, MCTS*, and pass@k.
  const searchPerLevel = config.task.evalSearchProblemsPerLevel;
  if (searchPerLevel > 0) {
    const subset = heldOutProblems(task, perLevel(Math.min(searchPerLevel, config.task.evalProblemsPerLevel)));
    const { generator, prompt } = await policyGenerator(policyPath, config, task);
    const methods = await evaluateSearchMethods({
      generator,
      prompt,
      scorer: await prmScorer(prmPath, config, task),
      task,
      problems: subset,
      k: config.task.evalSamples,
      mctsIterations: config.search.iterationsPerProblem,
      concurrency: config.sequences,
      seed: HELD_OUT_SEED,
      onProgress: (done, count) => heartbeat({ stage: 'evaluate search', done, total: count }),
    });
    const k = config.task.evalSamples;
    for (const [method, byLevel] of Object.entries({ [`vote@${k}`]: methods.accuracy.vote, [`prm-best-of-${k}`]: methods.accuracy['prm-best-of-k'], mcts: methods.accuracy.mcts })) {
      for (const [level, value] of Object.entries(byLevel)) records.push({ modelPath: policyPath, method, split: 'test', metric: levelMetric('accuracy', level), value });
    }
    for (const [level, value] of Object.entries(methods.passAtK)) records.push({ modelPath: policyPath, method: 'samples', split: 'test', metric: levelMetric(`pass@${k}`, level), value });
  }
  if (quality.auc !== null) records.push({ modelPath: prmPath, method: 'prm', split: 'test', metric: `${quality.kind}_auc`, value: quality.auc });
  if (quality.firstErrorAccuracy !== null) records.push({ modelPath: prmPath, method: 'prm', split: 'test', metric: 'first_error_accuracy', value: quality.firstErrorAccuracy });
  const summary = { iteration, accuracyByLevel, accuracy, flexibleAccuracyByLevel, hiddenAnswersByLevel, prmAuc: quality.auc, policyPath, prmPath };
  // The CPU queue records the metrics from this file (ingest.ts); a retry or a resumed run reads it back.
  const answers = problems.map((problem, index) => ({ level: String(problem.level), question: problem.question, correct: greedy.samples[index]?.correct === true }));
  writeJsonArtifact(artifact, { summary, metrics: records, answers } satisfies EvaluationArtifact);
  return summary;
}
