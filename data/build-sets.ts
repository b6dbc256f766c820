/**
 * Data building for one iteration: label every stored tree (quality-value targets, reasoning
 * distances), then derive the SFT set, the PRM set and the step-level preference pairs, record them
 * in the run database with their lineage (search, node, iteration) and write the trainer's JSONL
 * (train/schema.ts): sft.jsonl, prm.jsonl and dpo.jsonl.
 * Idempotent: a re-run after a crash inserts nothing twice and rewrites the same files.
 */
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { stepPreferencePairs } from '../reward/preference-pairs.ts';
import { qualityValueTargets } from '../reward/value-targets.ts';
import { answerLeaves, stepsTo, type SearchNode, type SearchTree } from '../search/tree.ts';
import { writeTransaction } from '../store/database.ts';
import type { RunStore } from '../store/run-store.ts';
import { dataSettingsSchema, type DataSettingsInput } from '../workflows/config.ts';

export interface DataCounts {
  searches: number;
  sft: number;
  prm: number;
  pairs: number;
  /** SFT rows written to the training file (this iteration's plus mixed-in earlier ones). */
  sftRowsWritten: number;
  prmRowsWritten: number;
  dpoRowsWritten: number;
}

/** One JSON object per line; an empty file for no rows. */
export async function writeJsonl(path: string, rows: readonly unknown[]): Promise<void> {
  await writeFile(path, rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length > 0 ? '\n' : ''));
}

/**
 * The iteration's step pairs as the trainer's `dpo` rows. The policy writes a step followed by the
 * delimiter, so both sides end with it: the pair also teaches where a step stops. Only this
 * iteration's pairs, unlike the SFT rows: the reference model is the parent, so a pair trained on
 * in an earlier iteration would be pushed further from a new reference every time it came back
 * (iterative DPO trains each round on the current policy's pairs).
 */
export function dpoTrainingRows(store: RunStore, iteration: number, delimiter: string): { prompt: string; chosen: string; rejected: string }[] {
  return store.iterationPairs(iteration).map(({ prompt, chosen, rejected }) => ({ prompt, chosen: chosen + delimiter, rejected: rejected + delimiter }));
}

/** The solution text of a leaf as the policy writes it: its steps, each closed by the delimiter. */
function completionOf(tree: SearchTree, nodeId: number, delimiter: string): string {
  const node = tree.nodes[nodeId];
  if (node === undefined) throw new Error(`no node ${nodeId}`);
  return stepsTo(tree, node).map((step) => step + delimiter).join('');
}

/** The PRM's lowest score over the steps of the path to `leaf` (a step never scored counts as 0). */
export function lowestStepScore(tree: SearchTree, leaf: SearchNode): number {
  let lowest = Infinity;
  for (let node: SearchNode | undefined = leaf; node !== undefined && node.parent !== null; node = tree.nodes[node.parent]) lowest = Math.min(lowest, node.prmScore ?? 0);
  return lowest === Infinity ? 0 : lowest;
}

export async function buildIterationData(options: {
  store: RunStore;
  iteration: number;
  /** The policy's prompt for a question, as text (SFT rows and step pairs: what the policy is trained to continue). */
  promptOf: (question: string) => string;
  /** The PRM's prompt for a question (PRM rows: what the PRM reads when it scores). */
  prmPromptOf: (question: string) => string;
  delimiter: string;
  sftPath: string;
  prmPath: string;
  dpoPath: string;
  data?: DataSettingsInput;
}): Promise<DataCounts> {
  const { store, iteration } = options;
  const settings = dataSettingsSchema.parse(options.data ?? {});
  const db = store.db;
  // In problem order, not the order searches finished in (concurrency), so the same seeds give the same data files.
  const searchIds = db.prepare('SELECT id FROM searches WHERE run_id = ? AND iteration = ? ORDER BY problem_id, algorithm').pluck().all(store.runId, iteration) as number[];

  for (const searchId of searchIds) {
    const tree = store.tree(searchId);
    const prompt = options.promptOf(tree.question);
    const prmPrompt = options.prmPromptOf(tree.question);
    const targets = qualityValueTargets(tree);
    const targetOf = new Map(targets.map((target) => [target.nodeId, target]));
    store.setNodeLabels(
      searchId,
      tree.nodes.map((node) => ({ nodeIndex: node.id, valueTarget: targetOf.get(node.id)?.value ?? null, reasoningDistance: targetOf.get(node.id)?.distance ?? null })),
    );
    const seen = new Set<string>();
    const keptSft = answerLeaves(tree)
      .filter((leaf) => leaf.correct === true)
      .map((leaf) => ({ leaf, score: lowestStepScore(tree, leaf) }))
      .filter(({ score }) => score >= settings.sftValueFloor)
      .sort((a, b) => b.score - a.score || a.leaf.id - b.leaf.id)
      .map(({ leaf, score }) => ({ leaf, score, completion: completionOf(tree, leaf.id, options.delimiter) }))
      .filter(({ completion }) => {
        if (seen.has(completion)) return false;
        seen.add(completion);
        return true;
      })
      .slice(0, settings.sftPerProblem);
    const pairs = stepPreferencePairs(tree, targets, settings.pairs);
    writeTransaction(db, () => {
      const insertSft = db.prepare(
        'INSERT INTO sft_examples (run_id, iteration, search_id, node_index, prompt, completion, value) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      );
      for (const { leaf, score, completion } of keptSft) insertSft.run(store.runId, iteration, searchId, leaf.id, prompt, completion, score);
      const insertPrm = db.prepare(
        "INSERT INTO prm_examples (run_id, iteration, search_id, node_index, prompt, steps_json, target, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'quality-value') ON CONFLICT DO NOTHING",
      );
      for (const target of targets) {
        const node = tree.nodes[target.nodeId];
        if (node !== undefined) insertPrm.run(store.runId, iteration, searchId, node.id, prmPrompt, JSON.stringify(stepsTo(tree, node)), target.value);
      }
      const insertPair = db.prepare(
        'INSERT INTO preference_pairs (run_id, iteration, search_id, parent_index, chosen_index, rejected_index, prompt, chosen, rejected, chosen_q, rejected_q) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      );
      for (const pair of pairs) {
        const pairPrompt = prompt + pair.prefix.map((step) => step + options.delimiter).join('');
        insertPair.run(store.runId, iteration, searchId, pair.parentId, pair.chosenId, pair.rejectedId, pairPrompt, pair.chosen, pair.rejected, pair.chosenQ, pair.rejectedQ);
      }
    });
  }

  const count = (table: string): number => db.prepare(`SELECT COUNT(*) FROM ${table} WHERE run_id = ? AND iteration = ?`).pluck().get(store.runId, iteration) as number;
  // A row whose search also ended wrong somewhere is contested: it shows what the policy does not do reliably yet.
  const sftRows = (
    db
      .prepare(
        `SELECT x.prompt, x.completion, EXISTS (SELECT 1 FROM nodes n WHERE n.search_id = x.search_id AND n.state = 'end' AND n.correct IS NOT 1) AS contested
         FROM sft_examples x WHERE x.run_id = ? AND x.iteration BETWEEN ? AND ? ORDER BY x.iteration, x.id`,
      )
      .all(store.runId, iteration - settings.mixPreviousIterations, iteration) as { prompt: string; completion: string; contested: number }[]
  ).flatMap(({ prompt, completion, contested }) => Array.from({ length: contested ? settings.sftContestedRepeat : 1 }, () => ({ prompt, completion })));
  await writeJsonl(options.sftPath, sftRows);
  const prmRows = prmTrainingRows(store, iteration);
  await writeJsonl(options.prmPath, prmRows.map(({ prompt, completions, labels }) => ({ prompt, completions, labels })));
  const dpoRows = dpoTrainingRows(store, iteration, options.delimiter);
  await writeJsonl(options.dpoPath, dpoRows);
  return {
    searches: searchIds.length,
    sft: count('sft_examples'),
    prm: count('prm_examples'),
    pairs: count('preference_pairs'),
    sftRowsWritten: sftRows.length,
    prmRowsWritten: prmRows.length,
    dpoRowsWritten: dpoRows.length,
  };
}

/**
 * The iteration's PRM examples as the trainer's stepwise rows: one row per labelled node whose
 * children carry no label of their own (the deepest labelled prefix of a path), with the targets of
 * every labelled node along that path as per-step labels.
 */
export function prmTrainingRows(store: RunStore, iteration: number): { searchId: number; nodeIndex: number; prompt: string; completions: string[]; labels: number[] }[] {
  const rows = store.db
    .prepare(
      `SELECT e.search_id, e.node_index, e.prompt, e.steps_json, e.target, n.parent_index FROM prm_examples e
       JOIN nodes n ON n.search_id = e.search_id AND n.node_index = e.node_index JOIN searches s ON s.id = e.search_id
       WHERE e.run_id = ? AND e.iteration = ? AND e.source = 'quality-value' ORDER BY s.problem_id, s.algorithm, e.node_index`,
    )
    .all(store.runId, iteration) as { search_id: number; node_index: number; prompt: string; steps_json: string; target: number; parent_index: number | null }[];
  const key = (searchId: number, nodeIndex: number | null): string => `${searchId}:${nodeIndex}`;
  const targetOf = new Map(rows.map((row) => [key(row.search_id, row.node_index), row]));
  const hasLabelledChild = new Set(rows.map((row) => key(row.search_id, row.parent_index)));
  return rows
    .filter((row) => !hasLabelledChild.has(key(row.search_id, row.node_index)))
    .map((row) => {
      const labels: number[] = [];
      for (let current: typeof row | undefined = row; current !== undefined; current = targetOf.get(key(current.search_id, current.parent_index))) labels.unshift(current.target);
      const completions = z.array(z.string()).parse(JSON.parse(row.steps_json));
      if (labels.length !== completions.length) throw new Error(`search ${row.search_id} node ${row.node_index}: ${labels.length} labels for ${completions.length} steps`);
      return { searchId: row.search_id, nodeIndex: row.node_index, prompt: row.prompt, completions, labels };
    });
}
