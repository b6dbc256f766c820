/**
 * `arbor models|tree|lineage|export|report NAME`: read a run's database — its models with lineage and
 * metrics, one search tree drawn as text, where a training example came from, the run's data in
 * TRL formats, or its HTML report.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DATABASE_FILE, REPORT_FILE } from '../activities/run-dir.ts';
import { exportRun } from '../data/export.ts';
import { childrenOf, nodeAt, type SearchNode, type SearchTree } from '../search/tree.ts';
import { TREES_PER_ITERATION, writeReport } from '../report/html.ts';
import { DatabaseFileError, DatabaseOutdatedError, DatabaseVersionError } from '../store/errors.ts';
import { RunStore } from '../store/run-store.ts';
import { runDirFromArgs } from './run-name.ts';
import { intOption, ioErrorMessage, UsageError } from './usage-error.ts';

export const INSPECT_HELP = `arbor models|tree|lineage|export|report — look into a run

usage:
  arbor models NAME [--run-dir DIR]
      every model of the run: kind, iteration, parent, path, sha256, training metrics; a model
      whose file retention deleted (superseded: config retention.candidates) says "deleted"
  arbor tree NAME [--search ID | --iteration N --problem ID] [--run-dir DIR]
      one search tree: each node's step, visits N, value V, PRM score, value target, answer (✓/✗)
  arbor lineage NAME [--sft ID] [--run-dir DIR]
      where an SFT example came from: iteration, search, node, question, the models that searched
      (policy_model_file / prm_model_file: kept, or deleted by retention)
      [default: the run's first SFT example]
  arbor export NAME [--out DIR] [--iteration N] [--threshold 0.5] [--run-dir DIR]
      TRL files: sft.jsonl {prompt, completion}, dpo.jsonl {prompt, chosen, rejected},
      prm.jsonl {prompt, completions, labels (value >= threshold), values}, trees.jsonl; each row
      carries run_id, iteration, search_id, problem_id, policy_model_id   [out: <run dir>/export]
  arbor report NAME [--out FILE] [--trees ${TREES_PER_ITERATION}] [--run-dir DIR]
      one self-contained HTML page (works offline; open it in any browser): held-out accuracy per
      level and method by iteration with the base and promoted models marked, PRM step AUC and
      first-error accuracy, data volumes and the invalid-step share, B-STaR monitors (pass@k,
      distinct correct answers, reward discrimination), minutes per stage, the models' lineage, and
      a tree explorer (--trees searches per iteration; 0 leaves the trees out). A run rewrites its
      own after every activity. Link an SFT row's node: report.html#sft=ID   [out: <run dir>/report.html]
Exit codes: 0 done, 2 bad input or unknown run.
`;

/**
 * The run's database, opened read-only: looking never writes (a full disk, a read-only copy). A
 * missing, empty, damaged or wrong-version file is bad input (exit 2), named.
 */
export function openStore(runDir: string): RunStore {
  const path = join(runDir, DATABASE_FILE);
  if (!existsSync(path)) throw new UsageError(`no run database at ${path} (is the run name right? --run-dir for another folder)`);
  let store;
  try {
    store = RunStore.open(path, { readonly: true });
  } catch (error) {
    const named = error instanceof DatabaseFileError || error instanceof DatabaseVersionError || error instanceof DatabaseOutdatedError;
    throw new UsageError(named ? error.message : `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (store === null) throw new UsageError(`${path} holds no run`);
  return store;
}

/** The tree as indented text, children in order of visits. */
export function drawTree(tree: SearchTree, targets: ReadonlyMap<number, number | null> = new Map()): string {
  const lines = [`Q: ${tree.question}`];
  const draw = (node: SearchNode, indent: string): void => {
    const children = childrenOf(tree, node).sort((a, b) => b.visits - a.visits || a.id - b.id);
    children.forEach((child, index) => {
      const last = index === children.length - 1;
      const mark = child.correct === true ? ' ✓' : child.correct === false ? ' ✗' : '';
      const target = targets.get(child.id);
      const stats = `N=${child.visits} V=${child.value.toFixed(3)} prm=${child.prmScore?.toFixed(3) ?? '—'}${target === undefined || target === null ? '' : ` v*=${target.toFixed(3)}`}`;
      lines.push(`${indent}${last ? '└─' : '├─'} ${JSON.stringify(child.step)}${mark}  ${stats}${child.state === 'open' ? ' (open)' : ''}`);
      draw(child, indent + (last ? '   ' : '│  '));
    });
  };
  draw(nodeAt(tree, 0), '');
  return lines.join('\n');
}

export async function inspectCommand(action: 'models' | 'tree' | 'lineage' | 'export' | 'report', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'run-dir': { type: 'string' },
      search: { type: 'string' },
      iteration: { type: 'string' },
      problem: { type: 'string' },
      sft: { type: 'string' },
      out: { type: 'string' },
      threshold: { type: 'string' },
      trees: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(INSPECT_HELP);
    return 0;
  }
  const { runDir } = runDirFromArgs(action, positionals, values['run-dir']);
  // Every option is checked before the database is opened.
  const searchOption = values.search === undefined ? null : intOption('search', values.search);
  const iterationOption = values.iteration === undefined ? undefined : intOption('iteration', values.iteration);
  const problemOption = values.problem === undefined ? undefined : intOption('problem', values.problem);
  const sftOption = values.sft === undefined ? undefined : intOption('sft', values.sft);
  const treesOption = values.trees === undefined ? TREES_PER_ITERATION : intOption('trees', values.trees);
  let threshold: number | undefined;
  if (values.threshold !== undefined) {
    const parsed = z.coerce.number().min(0).max(1).safeParse(values.threshold);
    if (!parsed.success || values.threshold.trim() === '') throw new UsageError(`--threshold must be a number in [0, 1], got ${JSON.stringify(values.threshold)}`);
    threshold = parsed.data;
  }
  const store = openStore(runDir);
  try {
    if (action === 'models') {
      for (const row of store.models()) process.stdout.write(`#${row.id} ${row.kind} iteration ${row.iteration} parent ${row.parent_id ?? '—'}  ${row.path}${row.deleted ? ' (deleted: superseded)' : ''}  sha256 ${row.sha256.slice(0, 12)}…  ${row.metrics_json}\n`);
      return 0;
    }
    if (action === 'report') {
      const out = values.out ?? join(runDir, REPORT_FILE);
      if (!existsSync(dirname(out))) throw new UsageError(`--out ${out}: no folder ${dirname(out)}`);
      try {
        writeReport(store, out, { treesPerIteration: treesOption });
      } catch (error) {
        throw new UsageError(`cannot write the report: ${ioErrorMessage(error, out) ?? (error instanceof Error ? error.message : String(error))} (--out FILE writes it elsewhere)`);
      }
      process.stdout.write(`report: ${out}\n`);
      return 0;
    }
    if (action === 'tree') {
      let searchId = searchOption;
      if (searchId === null) {
        const iteration = iterationOption ?? 1;
        searchId = store.firstSearchId(iteration, problemOption);
        if (searchId === null) throw new UsageError(`no search for iteration ${iteration}${problemOption === undefined ? '' : ` and problem ${problemOption}`} in ${runDir}`);
      } else if (!store.hasSearch(searchId)) {
        throw new UsageError(`--search ${searchId}: no such search in ${runDir}`);
      }
      const tree = store.tree(searchId);
      const targets = new Map(store.nodes(searchId).map((node) => [node.node_index, node.value_target]));
      process.stdout.write(`search ${searchId}\n${drawTree(tree, targets)}\n`);
      return 0;
    }
    if (action === 'lineage') {
      const sftId = sftOption ?? store.firstSftId();
      if (sftId === null) throw new UsageError(`${runDir} has no SFT examples yet`);
      if (!store.hasSftExample(sftId)) throw new UsageError(`--sft ${sftId}: no such SFT example in ${runDir}`);
      process.stdout.write(`${JSON.stringify(store.sftLineage(sftId), null, 2)}\n`);
      const report = join(runDir, REPORT_FILE);
      if (existsSync(report)) process.stdout.write(`its node in the report: ${report}#sft=${sftId}\n`);
      return 0;
    }
    if (iterationOption !== undefined && !store.searchedIteration(iterationOption)) {
      throw new UsageError(`--iteration ${iterationOption}: the run has no searches in that iteration (${runDir})`);
    }
    const outDir = values.out ?? join(runDir, 'export');
    const counts = await exportRun({
      store,
      outDir,
      iteration: iterationOption,
      labelThreshold: threshold,
    });
    process.stdout.write(`exported to ${outDir}: ${Object.entries(counts).map(([file, rows]) => `${file} ${rows}`).join(', ')}\n`);
    return 0;
  } finally {
    store.close();
  }
}
