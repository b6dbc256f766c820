/**
 * bench/stages (`npm run bench:stages`): where a default run's time goes, and how much a change saves.
 * Runs the default run (`arbor run --inline`: micro model, built-in task, fixed seeds) for
 * `--iterations` (and `--sequences` when given) in this tree and, with `--before REF`, first in a git worktree of REF (its own
 * native trainer built, node_modules shared), one after the other on the same machine. Each
 * activity is timed from the run's `▶` lines to the next one; minutes per stage are printed. Last line:
 * RESULT search_min=… eval_min=… before_search_min=… before_eval_min=… speedup=…
 * where search and eval cover the iterations (eval: the held-out evaluation of each iteration's
 * models; the base model's evaluation is part of prepare) and speedup is before / after for both together.
 * With `--before`, the two runs' databases are also compared table by table (ids replaced by what they
 * stand for, fractional numbers within 1e-4: bench/fault-cases.ts), and the RESULT line ends with
 * rows_equal=… (every table has as many rows) and content_differences=…; `--quick` runs the quick
 * preset instead of the default run (a refactoring's "behaviour unchanged" in seconds).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RunStore } from '../store/run-store.ts';
import { differences, snapshot, type Snapshot } from './fault-cases.ts';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    iterations: { type: 'string', default: '1' },
    /** Passed to both runs as `--sequences` (default: the run's own default). */
    sequences: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
  strict: true,
});
const iterations = Number(values.iterations);
if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`--iterations must be a positive integer, got ${values.iterations}`);

const STAGES = [
  ['prepare', /^prepare:/],
  ['plan', /pick problems/],
  ['search', /search shard/],
  ['data', /value targets/],
  ['train', /fine-tune/],
  ['eval', /held-out accuracy/],
  ['promote', /promote/],
] as const;
type Stage = (typeof STAGES)[number][0];

function stageOf(summary: string): Stage {
  const found = STAGES.find(([, pattern]) => pattern.test(summary));
  if (found === undefined) throw new Error(`bench:stages does not know the activity "${summary}"`);
  return found[0];
}

/** Runs the default run in `cwd` and returns seconds per stage (an activity lasts until the next one starts). */
async function timedRun(cwd: string, name: string): Promise<Map<Stage, number>> {
  await rm(join(cwd, 'runs', name), { recursive: true, force: true });
  const seconds = new Map<Stage, number>(STAGES.map(([stage]) => [stage, 0]));
  let current: { stage: Stage; since: number } | null = null;
  const close = (now: number): void => {
    if (current !== null) seconds.set(current.stage, (seconds.get(current.stage) ?? 0) + (now - current.since) / 1000);
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', '--inline', ...(values.quick ? ['--quick'] : []), '--name', name, '--iterations', String(iterations), ...(values.sequences === undefined ? [] : ['--sequences', values.sequences])], { cwd, stdio: ['ignore', 'inherit', 'pipe'] });
  let pending = '';
  child.stderr.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const started = /^▶ (.*)$/.exec(line);
      if (started === null) continue;
      const now = performance.now();
      close(now);
      current = { stage: stageOf(started[1] ?? ''), since: now };
    }
  });
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  close(performance.now());
  if (code !== 0) throw new Error(`the run in ${cwd} exited with ${code}`);
  return seconds;
}

/** A worktree of `ref` beside this one, ready to run: node_modules linked, its native trainer built. */
async function worktreeOf(ref: string): Promise<string> {
  const sha = spawnSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { encoding: 'utf8' });
  if (sha.status !== 0) throw new Error(`--before ${ref}: not a commit of this repository`);
  const dir = join(tmpdir(), `arbor-bench-stages-${sha.stdout.trim().slice(0, 12)}`);
  if (!existsSync(dir)) {
    const added = spawnSync('git', ['worktree', 'add', '--detach', dir, sha.stdout.trim()], { stdio: 'inherit' });
    if (added.status !== 0) throw new Error(`git worktree add ${dir} failed`);
  }
  if (!existsSync(join(dir, 'node_modules'))) await symlink(resolve('node_modules'), join(dir, 'node_modules'));
  const built = spawnSync('bash', ['native/build.sh'], { cwd: dir, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`native/build.sh failed in ${dir}`);
  return dir;
}

const minutes = (stages: Map<Stage, number>, stage: Stage): number => (stages.get(stage) ?? 0) / 60;
function printStages(label: string, stages: Map<Stage, number>): void {
  console.log(`${label.padEnd(8)} ${STAGES.map(([stage]) => `${stage} ${minutes(stages, stage).toFixed(2)}`).join('  ')}  (minutes)`);
}

const beforeDir = values.before === undefined ? null : await worktreeOf(values.before);
const before = beforeDir === null ? null : await timedRun(beforeDir, 'bench-stages');
const after = await timedRun('.', 'bench-stages');
if (before !== null) printStages('before', before);
printStages('after', after);

/** Both runs' content: the earlier database upgraded on a copy first (an older commit may have an older schema). */
async function compareContent(dir: string): Promise<string> {
  const copy = join(tmpdir(), `arbor-bench-stages-before-${process.pid}.db`);
  await copyFile(join(dir, 'runs', 'bench-stages', 'arbor.db'), copy);
  RunStore.create(copy, 'bench-stages').close();
  const earlier = snapshot(copy);
  const now = snapshot(join('runs', 'bench-stages', 'arbor.db'));
  await rm(copy, { force: true });
  const counts = (content: Snapshot): string => [...content].map(([table, rows]) => `${table} ${rows.length}`).join(', ');
  console.log(`rows before: ${counts(earlier)}`);
  console.log(`rows after:  ${counts(now)}`);
  const rowsEqual = [...now].every(([table, rows]) => earlier.get(table)?.length === rows.length);
  const found = differences(earlier, now);
  for (const difference of found.slice(0, 10)) console.log(`difference: ${difference}`);
  return ` rows_equal=${Number(rowsEqual)} content_differences=${found.length}`;
}

const searchEval = (stages: Map<Stage, number>): number => minutes(stages, 'search') + minutes(stages, 'eval');
console.log(
  `RESULT search_min=${minutes(after, 'search').toFixed(2)} eval_min=${minutes(after, 'eval').toFixed(2)}` +
    (before === null || beforeDir === null
      ? ''
      : ` before_search_min=${minutes(before, 'search').toFixed(2)} before_eval_min=${minutes(before, 'eval').toFixed(2)} speedup=${(searchEval(before) / searchEval(after)).toFixed(2)}` +
        (await compareContent(beforeDir))),
);
