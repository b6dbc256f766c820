/**
 * The CPU queue records what the inference and training queues left as artifacts (artifacts.ts):
 * search shards, trained models, evaluations, activity attempts. Every ingest is idempotent — the
 * store keys each row naturally — so ingesting twice is ingesting once, and a crash mid-way is
 * repaired by the next ingest.
 */
import type { RunStore } from '../store/run-store.ts';
import { attemptRecords, EvaluationArtifactSchema, ModelRecordSchema, readJsonArtifact, shardArtifacts, shardRecords } from './artifacts.ts';
import { evaluationArtifact, modelRecordPath } from './run-dir.ts';

/** Stores every finished search shard of an iteration; returns how many searches the artifacts hold. */
export function ingestSearches(store: RunStore, runDir: string, iteration: number): number {
  let count = 0;
  for (const shard of shardArtifacts(runDir, iteration)) {
    for (const record of shardRecords(runDir, iteration, shard)) {
      store.saveSearch({
        iteration,
        problemId: record.problemId,
        policyModelId: store.modelIdByPath(record.policyPath),
        prmModelId: store.modelIdByPath(record.prmPath),
        algorithm: record.algorithm,
        budget: record.budget,
        stats: record.stats,
        answer: record.answer,
        correct: record.correct,
        tree: record.tree,
      });
      count += 1;
    }
  }
  return count;
}

/** Records a trained model from its record file (a model without one — a parent kept — is already recorded); returns its id. */
export function ingestModel(store: RunStore, modelPath: string): number | null {
  const recorded = store.modelIdByPath(modelPath);
  if (recorded !== null) return recorded;
  const record = readJsonArtifact(modelRecordPath(modelPath), ModelRecordSchema);
  if (record === null) return null;
  return store.recordModel({
    kind: record.kind,
    path: record.path,
    sha256: record.sha256,
    parentId: record.parentPath === null ? null : store.modelIdByPath(record.parentPath),
    iteration: record.iteration,
    metrics: record.metrics,
  });
}

/** Records an iteration's evaluation (its models recorded first); false when it has not been written yet. */
export function ingestEvaluation(store: RunStore, runDir: string, iteration: number): boolean {
  const artifact = readJsonArtifact(evaluationArtifact(runDir, iteration), EvaluationArtifactSchema);
  if (artifact === null) return false;
  const modelId = (modelPath: string | null): number | null => (modelPath === null ? null : ingestModel(store, modelPath));
  store.recordEvaluations(artifact.metrics.map(({ modelPath, ...metric }) => ({ iteration, modelId: modelId(modelPath), ...metric })));
  const policyId = modelId(artifact.summary.policyPath);
  if (artifact.answers !== undefined && policyId !== null) store.recordHeldOutAnswers(iteration, policyId, artifact.answers);
  return true;
}

/** Records the activity attempts other processes reported (an unfinished one is updated when its file is). */
export function ingestAttempts(store: RunStore, runDir: string): void {
  for (const attempt of attemptRecords(runDir)) store.recordAttempt(attempt);
}
