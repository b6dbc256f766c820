/**
 * What the fault campaign (bench/faults.ts) and its CI subset (test/faults.test.ts) share: running
 * `arbor` as a child process, a run database's content table by table (for comparing a resumed run
 * with an uninterrupted one), and the bad inputs every command must refuse by name with exit 2.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { RunStore } from '../store/run-store.ts';
import { runConfigSchema } from '../workflows/config.ts';

export const TRAINER = 'native/build/arbor-trainer';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `arbor ARGS` (or another executable) as a child; `done` resolves when it exits. */
export interface RunOptions {
  executable?: string;
  cwd?: string;
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

export function start(args: readonly string[], options: RunOptions = {}): { child: ChildProcess; done: Promise<Finished>; stderr: () => string } {
  const command = options.executable === undefined ? [process.execPath, '--import', 'tsx', 'cli/arbor.ts', ...args] : [options.executable, ...args];
  const child = spawn(command[0] as string, command.slice(1), { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const done = new Promise<Finished>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

export type Started = ReturnType<typeof start>;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the child's stderr matches `pattern` (an activity's `▶` line, say) or it exits. */
export async function waitFor(started: Started, pattern: RegExp): Promise<void> {
  while (!pattern.test(started.stderr()) && started.child.exitCode === null) await sleep(50);
}

/** Ctrl-C twice once the run is searching; the run's end and the seconds it took after the second. */
export async function interruptTwiceWhileSearching(started: Started): Promise<{ stopped: Finished; seconds: number }> {
  await waitFor(started, /search shard/);
  started.child.kill('SIGINT');
  await sleep(200);
  started.child.kill('SIGINT');
  const interrupted = performance.now();
  const stopped = await started.done;
  return { stopped, seconds: (performance.now() - interrupted) / 1000 };
}

export const run = (args: readonly string[], options: RunOptions = {}): Promise<Finished> => start(args, options).done;

/** The files under `dir` (recursively) whose bytes contain `text`. */
export function filesContaining(dir: string, text: string): string[] {
  const needle = Buffer.from(text);
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => readFileSync(path).includes(needle));
}

/** The quick run every fault is applied to: inline, a fixed name per case. */
export const quickRun = (name: string, extra: readonly string[] = []): string[] => ['run', '--quick', '--inline', '--name', name, ...extra];

/** A run database's content per table (RunStore.comparableContent), rows in a fixed order. */
export type Snapshot = Map<string, unknown[][]>;

export function snapshot(databasePath: string): Snapshot {
  const store = RunStore.open(databasePath, { readonly: true }) ?? assert.fail(`${databasePath} holds no run`);
  try {
    // Ordered by everything but the fractional numbers, which may differ in their last digits.
    const key = (row: unknown[]): string => JSON.stringify(row.map((value) => (typeof value === 'number' && !Number.isInteger(value) ? null : value)));
    return new Map(Object.entries(store.comparableContent()).map(([table, rows]) => [table, rows.sort((a, b) => key(a).localeCompare(key(b)))]));
  } finally {
    store.close();
  }
}

/**
 * Relative tolerance for fractional numbers (PRM scores, values, losses): llama.cpp's results depend
 * on which tokens share a batch, and a resumed run batches differently, so scores agree to about 1e-6.
 */
export const FLOAT_TOLERANCE = 1e-4;

const same = (a: unknown, b: unknown): boolean =>
  typeof a === 'number' && typeof b === 'number' && !(Number.isInteger(a) && Number.isInteger(b)) ? Math.abs(a - b) <= FLOAT_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b)) : a === b;

/** The tables where two snapshots differ, with the first differing row (empty: the same). */
export function differences(a: Snapshot, b: Snapshot): string[] {
  return [...a.keys()].flatMap((table) => {
    const left = a.get(table) ?? [];
    const right = b.get(table) ?? [];
    if (left.length !== right.length) return [`${table}: ${left.length} vs ${right.length} rows`];
    const index = left.findIndex((row, i) => row.length !== right[i]?.length || row.some((value, j) => !same(value, right[i]?.[j])));
    return index < 0 ? [] : [`${table}: ${JSON.stringify(left[index])} vs ${JSON.stringify(right[index])}`];
  });
}

/** runs/NAME made a link to a folder outside runs/ (remove it when done). */
export const FAULTS_LINK = join('runs', 'faults-link');

export interface BadInput {
  /** What is wrong, for the report. */
  what: string;
  args: string[];
  /** The trainer instead of arbor. */
  trainer?: boolean;
  /** Text the message must contain: the input it names. */
  names: string;
}

/**
 * Bad inputs across the commands, each expected to exit 2 naming the input. `ref` is a finished run
 * (for ids that do not exist in it); files are written under `dir`, and FAULTS_LINK made.
 */
export function badInputs(ref: string, dir: string): BadInput[] {
  const file = (name: string, content: string | Buffer): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const notGguf = file('not-a-model.gguf', 'this is text, not a GGUF\n');
  const truncated = file('truncated.gguf', Buffer.from('GGUF\x03\x00\x00\x00\x05', 'latin1'));
  const badJson = file('broken.json', '{"iterations": 2,');
  const zeroIterations = file('zero-iterations.json', JSON.stringify({ iterations: 0 }));
  const unknownField = file('unknown-field.json', JSON.stringify({ iterationz: 2 }));
  const otherRun = file('other-run.json', JSON.stringify({ name: 'someone-else', runDir: `runs/${ref}` }));
  const badTrain = file('train.jsonl', '{"question": "2+2"}\n');
  // Run databases that are not what a run wrote: random bytes, cut in half, empty; and an inline state cut short.
  const runFolder = (name: string): string => {
    const folder = join(dir, name);
    mkdirSync(folder, { recursive: true });
    return folder;
  };
  const corrupt = runFolder('corrupt-db');
  file('corrupt-db/arbor.db', Buffer.from(Array.from({ length: 8192 }, (_, index) => (index * 131) % 251)));
  const truncatedDb = runFolder('truncated-db');
  const store = RunStore.create(join(truncatedDb, 'arbor.db'), 'truncated');
  store.ensureRun(runConfigSchema.parse({ name: 'truncated' }), 'now');
  for (let index = 0; index < 400; index++) store.upsertProblem({ task: 'arithmetic', split: 'train', question: `${index}+${'1'.repeat(2000)}`, answer: String(index), difficulty: 1 });
  store.close();
  truncateSync(join(truncatedDb, 'arbor.db'), Math.floor(statSync(join(truncatedDb, 'arbor.db')).size / 2));
  const corruptRun = file('corrupt-run.json', JSON.stringify({ name: 'corrupt', runDir: corrupt }));
  const empty = runFolder('empty-db');
  file('empty-db/arbor.db', '');
  const cutState = runFolder('cut-state');
  file('cut-state/inline-state.json', '{"runDir": "runs/x", "iter');
  // Where the link leads: outside runs/ whatever `dir` is (the campaign's scratch folder is inside it).
  const outside = mkdtempSync(join(tmpdir(), 'arbor-link-target-'));
  mkdirSync('runs', { recursive: true });
  rmSync(FAULTS_LINK, { force: true });
  symlinkSync(resolve(outside), FAULTS_LINK);
  return [
    { what: 'zero iterations', args: ['run', '--inline', '--name', 'bad-a', '--iterations', '0'], names: 'iterations' },
    { what: 'non-numeric iterations', args: ['run', '--inline', '--name', 'bad-a', '--iterations', 'many'], names: 'iterations' },
    { what: 'zero threads', args: ['run', '--inline', '--name', 'bad-a', '--threads', '0'], names: 'threads' },
    { what: 'zero sequences', args: ['run', '--inline', '--name', 'bad-a', '--sequences', '0'], names: 'sequences' },
    { what: 'missing policy model', args: ['run', '--inline', '--name', 'bad-a', '--policy', '/nonexistent/policy.gguf'], names: '/nonexistent/policy.gguf' },
    { what: 'policy model that is text', args: ['run', '--inline', '--name', 'bad-a', '--policy', notGguf], names: notGguf },
    { what: 'truncated PRM model', args: ['run', '--inline', '--name', 'bad-a', '--prm', truncated], names: truncated },
    { what: 'missing config file', args: ['run', '--inline', join(dir, 'missing.json')], names: 'missing.json' },
    { what: 'config file that is not JSON', args: ['run', '--inline', badJson], names: badJson },
    { what: 'config with zero iterations under --quick', args: ['run', '--inline', '--quick', '--name', 'bad-a', zeroIterations], names: 'iterations' },
    { what: 'config with an unknown field', args: ['run', '--inline', '--name', 'bad-a', unknownField], names: 'iterationz' },
    { what: 'unknown GPU kind', args: ['run', '--inline', '--name', 'bad-a', '--gpu', 'quantum'], names: 'gpu' },
    { what: 'run name with a space', args: ['run', '--inline', '--name', 'bad name'], names: 'name' },
    { what: 'unknown option', args: ['run', '--inline', '--bogus'], names: '--bogus' },
    { what: 'unknown task', args: ['run', '--inline', '--name', 'bad-a', '--task', 'chess'], names: 'chess' },
    { what: 'task file without answers', args: ['run', '--inline', '--name', 'bad-a', '--task', 'jsonl', '--train', badTrain], names: badTrain },
    { what: 'a finished run with another config', args: ['run', '--inline', '--quick', '--name', ref, '--sequences', '3'], names: ref },
    { what: "another run's directory", args: ['run', '--inline', otherRun], names: ref },
    { what: 'eval of a missing model', args: ['eval', '--model', '/nonexistent/eval.gguf'], names: '/nonexistent/eval.gguf' },
    { what: 'eval of a text file', args: ['eval', '--model', notGguf], names: notGguf },
    { what: 'eval with zero threads', args: ['eval', '--threads', '0'], names: 'threads' },
    { what: 'export of an unknown run', args: ['export', 'no-such-run'], names: 'no-such-run' },
    { what: 'export of a non-numeric iteration', args: ['export', ref, '--iteration', 'last'], names: '--iteration' },
    { what: 'export of an iteration the run does not have', args: ['export', ref, '--iteration', '99'], names: '--iteration 99' },
    { what: 'export threshold above 1', args: ['export', ref, '--threshold', '2'], names: '--threshold' },
    { what: 'tree of an unknown search', args: ['tree', ref, '--search', '999999'], names: '--search 999999' },
    { what: 'tree of a non-numeric search', args: ['tree', ref, '--search', 'first'], names: '--search' },
    { what: 'tree of an iteration without searches', args: ['tree', ref, '--iteration', '42'], names: 'iteration 42' },
    { what: 'tree of an unknown run', args: ['tree', 'no-such-run'], names: 'no-such-run' },
    { what: 'lineage of an unknown SFT example', args: ['lineage', ref, '--sft', '999999'], names: '--sft 999999' },
    { what: 'lineage of a negative id', args: ['lineage', ref, '--sft', '-1'], names: '--sft' },
    { what: 'lineage of an unknown run', args: ['lineage', 'no-such-run'], names: 'no-such-run' },
    { what: 'report with a non-numeric tree count', args: ['report', ref, '--trees', 'all'], names: '--trees' },
    { what: 'report into a missing folder', args: ['report', ref, '--out', join(dir, 'no-such-folder', 'report.html')], names: 'no-such-folder' },
    { what: 'status of an unknown run', args: ['status', 'no-such-run', '--inline'], names: 'no-such-run' },
    { what: 'status without a run name', args: ['status', '--inline'], names: 'run name' },
    { what: 'pause of an unknown run', args: ['pause', 'no-such-run', '--inline'], names: 'no-such-run' },
    { what: 'pause with an unknown option', args: ['pause', ref, '--now'], names: '--now' },
    { what: 'pause of a name that climbs out of runs/', args: ['pause', '..', '--inline'], names: '".."' },
    { what: 'status of an absolute path as a name', args: ['status', '/etc', '--inline'], names: '"/etc"' },
    { what: 'models of a name with a path in it', args: ['models', 'a/../../b'], names: '"a/../../b"' },
    { what: 'stop of runs/NAME linking outside runs/', args: ['stop', basename(FAULTS_LINK), '--inline'], names: 'is a link to' },
    { what: 'status of a corrupt run database', args: ['status', 'corrupt', '--inline', '--run-dir', corrupt], names: join(corrupt, 'arbor.db') },
    { what: 'models of a truncated run database', args: ['models', 'truncated', '--run-dir', truncatedDb], names: join(truncatedDb, 'arbor.db') },
    { what: 'export of an empty run database', args: ['export', 'empty', '--run-dir', empty], names: join(empty, 'arbor.db') },
    { what: 'report of a truncated run database', args: ['report', 'truncated', '--run-dir', truncatedDb], names: join(truncatedDb, 'arbor.db') },
    { what: 'resuming a run whose database is corrupt', args: ['run', '--inline', '--quick', corruptRun], names: join(corrupt, 'arbor.db') },
    { what: 'status of a run whose inline state is cut short', args: ['status', 'cut', '--inline', '--run-dir', cutState], names: join(cutState, 'inline-state.json') },
    { what: 'grade with an unknown extraction', args: ['grade', '--task', 'gsm8k', '--extraction', 'lenient', badTrain], names: '--extraction lenient' },
    { what: 'trainer on a missing model', args: ['train', '--model', '/nonexistent/train.gguf', '--data', notGguf, '--out', join(dir, 'out.gguf')], trainer: true, names: '/nonexistent/train.gguf' },
    { what: 'trainer quantizing to an unknown type', args: ['quantize', '--model', notGguf, '--type', 'q9_9', '--out', join(dir, 'q.gguf')], trainer: true, names: 'q9_9' },
  ];
}
