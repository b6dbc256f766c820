/**
 * Data building for one iteration: label every stored tree (quality-value targets, reasoning
 * distances), then derive the SFT set, the PRM set and the step-level preference pairs, record them
 * in the run database with their lineage (search, node, iteration) and write the trainer's JSONL
 * (train/schema.ts): prm.jsonl, and the policy's file, whose rows its objective builds
 * (train/objectives/: sft.jsonl, dpo.jsonl, …).
 * Idempotent: a re-run after a crash inserts nothing twice and rewrites the same files.
 */
import { writeFile } from 'node:fs/promises';
import { stepPreferencePairs } from '../reward/preference-pairs.ts';
import { qualityValueTargets } from '../reward/value-targets.ts';
import { answerLeaves, stepsTo, type SearchNode, type SearchTree } from '../search/tree.ts';
import type { RunStore } from '../store/run-store.ts';
import type { BoundObjective } from '../train/objectives/index.ts';
import { dataSettingsSchema, type DataSettingsInput } from '../workflows/config.ts';

export interface DataCounts {
  searches: number;
  sft: number;
  prm: number;
  pairs: number;
  prmRowsWritten: number;
  /** Rows of the policy's training file, and what its objective says of them. */
  policyRowsWritten: number;
  policyMetrics: Record<string, number>;
}

/** One JSON object per line; an empty file for no rows. */
export async function writeJsonl(path: string, rows: readonly unknown[]): Promise<void> {
  await writeFile(path, rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length > 0 ? '\n' : ''));
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
  prmPath: string;
  /** What the policy learns from (train/objectives/), and where its training file goes. */
  objective: BoundObjective;
  policyPath: string;
  data?: DataSettingsInput;
}): Promise<DataCounts> {
  const { store, iteration } = options;
  const settings = dataSettingsSchema.parse(options.data ?? {});
  // In problem order, not the order searches finished in (concurrency), so the same seeds give the same data files.
  const searchIds = store.iterationSearchIds(iteration, 'problem');

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
    store.saveTrainingRows(iteration, searchId, {
      sft: keptSft.map(({ leaf, score, completion }) => ({ nodeIndex: leaf.id, prompt, completion, value: score })),
      prm: targets.flatMap((target) => {
        const node = tree.nodes[target.nodeId];
        return node === undefined ? [] : [{ nodeIndex: node.id, prompt: prmPrompt, steps: stepsTo(tree, node), target: target.value }];
      }),
      pairs: pairs.map((pair) => ({
        parentIndex: pair.parentId,
        chosenIndex: pair.chosenId,
        rejectedIndex: pair.rejectedId,
        prompt: prompt + pair.prefix.map((step) => step + options.delimiter).join(''),
        chosen: pair.chosen,
        rejected: pair.rejected,
        chosenQ: pair.chosenQ,
        rejectedQ: pair.rejectedQ,
      })),
    });
  }

  const prmRows = prmTrainingRows(store, iteration);
  await writeJsonl(options.prmPath, prmRows.map(({ prompt, completions, labels }) => ({ prompt, completions, labels })));
  const policy = options.objective.rows({ store, iteration, promptOf: options.promptOf, delimiter: options.delimiter, data: settings });
  await writeJsonl(options.policyPath, policy.rows);
  return { searches: searchIds.length, ...store.trainingRowCounts(iteration), prmRowsWritten: prmRows.length, policyRowsWritten: policy.rows.length, policyMetrics: policy.metrics };
}

/**
 * The iteration's PRM examples as the trainer's stepwise rows: one row per labelled node whose
 * children carry no label of their own (the deepest labelled prefix of a path), with the targets of
 * every labelled node along that path as per-step labels.
 */
export function prmTrainingRows(store: RunStore, iteration: number): { searchId: number; nodeIndex: number; prompt: string; completions: string[]; labels: number[] }[] {
  const rows = store.prmExamples(iteration);
  const key = (searchId: number, nodeIndex: number | null): string => `${searchId}:${nodeIndex}`;
  const targetOf = new Map(rows.map((row) => [key(row.searchId, row.nodeIndex), row]));
  const hasLabelledChild = new Set(rows.map((row) => key(row.searchId, row.parentIndex)));
  return rows
    .filter((row) => !hasLabelledChild.has(key(row.searchId, row.nodeIndex)))
    .map((row) => {
      const labels: number[] = [];
      for (let current: typeof row | undefined = row; current !== undefined; current = targetOf.get(key(current.searchId, current.parentIndex))) labels.unshift(current.target);
      if (labels.length !== row.steps.length) throw new Error(`search ${row.searchId} node ${row.nodeIndex}: ${labels.length} labels for ${row.steps.length} steps`);
      return { searchId: row.searchId, nodeIndex: row.nodeIndex, prompt: row.prompt, completions: row.steps, labels };
    });
}
