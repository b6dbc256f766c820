/**
 * bench/faults (`npm run bench:faults`): the fault campaign on quick runs (micro model, inline).
 *  - kill -9 at `--kills` random moments (seeded) of a quick run, each resumed with the same command
 *    and compared table by table with an uninterrupted run;
 *  - Ctrl-C twice during the search: the run must stop within seconds (exit 3), then resume identical;
 *  - a full disk: the run directory on a small tmpfs (needs root; otherwise reported 0 with the
 *    reason): exit 1 saying "no space left" with the path, no temporary file left, and once the
 *    tmpfs grows the same command resumes and finishes identical;
 *  - two owners: a second `arbor run` on a live run exits 2 naming the owner; after the owner is
 *    killed, the next start takes the run over and finishes identical;
 *  - bad inputs (bench/fault-cases.ts) across run, eval, grade, export, models, tree, lineage,
 *    report, status, pause, stop and the trainer — run names that leave runs/, corrupt, truncated
 *    and empty run databases, a cut-off inline state among them: exit 2 with a message naming the input;
 *  - SQLite integrity_check of every database the campaign left.
 * Every outcome is asserted after the RESULT line (the full disk only where root could mount a tmpfs).
 * Last line: RESULT kills=… resumed_identical=… double_sigint_ok=… disk_full_ok=… owners_ok=… bad_inputs=… clear_errors=… integrity_ok=…
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RunStore } from '../store/run-store.ts';
import { createRng } from '../tasks/random.ts';
import { badInputs, differences, FAULTS_LINK, interruptTwiceWhileSearching, quickRun, run, sleep, snapshot, start, TRAINER, waitFor } from './fault-cases.ts';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '10' }, seed: { type: 'string', default: '1' } }, strict: true });
const kills = Number(values.kills);
const rng = createRng(Number(values.seed));
const databases: string[] = [];
let integrityOk = 1;
function checkIntegrity(path: string): void {
  const store = RunStore.open(path, { readonly: true });
  if (store === null) return;
  try {
    const result = store.integrityCheck();
    if (result !== 'ok') {
      console.log(`integrity_check ${path}: ${result}`);
      integrityOk = 0;
    }
  } finally {
    store.close();
  }
}
const dbOf = (name: string): string => join('runs', name, 'arbor.db');
const fresh = (name: string): string => {
  rmSync(join('runs', name), { recursive: true, force: true });
  return name;
};

async function finish(name: string, extra: readonly string[] = []): Promise<boolean> {
  const done = await run(quickRun(name, extra));
  if (done.code !== 0) console.log(`  ${name}: resume exited ${done.code}: ${done.stderr.trim().split('\n').at(-1)}`);
  return done.code === 0;
}

// The reference: one uninterrupted quick run, timed (kills land inside its duration).
const started = performance.now();
const reference = await run(quickRun(fresh('faults-ref')));
if (reference.code !== 0) throw new Error(`the reference quick run failed (${reference.code}): ${reference.stderr}`);
const referenceSeconds = (performance.now() - started) / 1000;
const expected = snapshot(dbOf('faults-ref'));
databases.push(dbOf('faults-ref'));
console.log(`reference quick run: ${referenceSeconds.toFixed(0)} s, ${[...expected].map(([table, rows]) => `${table} ${rows.length}`).join(', ')}`);

const identical = (name: string): boolean => {
  const diff = differences(expected, snapshot(dbOf(name)));
  if (diff.length > 0) console.log(`  ${name} differs from the reference in: ${diff.join(', ')}`);
  return diff.length === 0;
};

// kill -9 at random moments, then resume; a moment after the run already ended does not count.
let killed = 0;
let resumedIdentical = 0;
for (let attempt = 0; killed < kills && attempt < kills * 3; attempt++) {
  const name = fresh(`faults-kill-${attempt}`);
  const at = 1 + rng.next() * (0.85 * referenceSeconds - 1);
  const child = start(quickRun(name));
  await Promise.race([sleep(at * 1000), child.done]);
  child.child.kill('SIGKILL');
  const ended = await child.done;
  if (ended.signal !== 'SIGKILL') {
    console.log(`kill at ${at.toFixed(1)} s: the run had already ended (exit ${ended.code}); not counted`);
    continue;
  }
  killed += 1;
  const stage = child.stderr().split('\n').filter((line) => line.startsWith('▶')).at(-1) ?? '▶ (before the first activity)';
  const ok = (await finish(name)) && identical(name);
  databases.push(dbOf(name));
  if (ok) resumedIdentical += 1;
  console.log(`kill ${killed} at ${at.toFixed(1)} s, during ${stage.slice(2)}: resumed ${ok ? 'identical' : 'DIFFERENT'}`);
}

// Ctrl-C twice during the search: stopped within seconds, then resumed identical.
let doubleSigintOk = 0;
{
  const name = fresh('faults-sigint');
  const { stopped, seconds } = await interruptTwiceWhileSearching(start(quickRun(name)));
  const ok = stopped.code === 3 && seconds < 10 && (await finish(name)) && identical(name);
  databases.push(dbOf(name));
  doubleSigintOk = ok ? 1 : 0;
  console.log(`double Ctrl-C during the search: exit ${stopped.code} after ${seconds.toFixed(1)} s; resumed ${ok ? 'identical' : 'NOT identical or failed'}`);
}

// A full disk: the run directory on a tmpfs too small for the run, then grown.
let diskFullOk = 0;
let diskFullTried = false;
{
  const name = fresh('faults-disk');
  const mountPoint = join('runs', name);
  mkdirSync(mountPoint, { recursive: true });
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1200k', 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    console.log(`full disk: not tried (cannot mount a tmpfs here: ${mounted.stderr.trim() || mounted.error?.message})`);
  } else {
    diskFullTried = true;
    try {
      const full = await run(quickRun(name));
      const message = full.stderr.trim().split('\n').at(-1) ?? '';
      const leftovers = readdirSync(mountPoint, { recursive: true }).map(String).filter((file) => file.endsWith('.tmp'));
      const clear = full.code === 1 && /no space left/i.test(message) && message.includes(mountPoint);
      console.log(`full disk: exit ${full.code}: ${message}; temporary files left: ${leftovers.length === 0 ? 'none' : leftovers.join(', ')}`);
      const inspect = await run(['models', name]);
      console.log(`  read-only \`arbor models\` on the full disk: exit ${inspect.code}`);
      spawnSync('mount', ['-o', 'remount,size=256m', mountPoint]);
      const ok = clear && leftovers.length === 0 && inspect.code === 0 && (await finish(name)) && identical(name);
      if (ok) diskFullOk = 1;
      console.log(`  after the tmpfs grew: resumed ${ok ? 'identical' : 'NOT identical or failed'}`);
      checkIntegrity(dbOf(name)); // before the tmpfs goes
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  }
}

// Two owners: a second `arbor run` on a live run is refused naming the owner; a dead owner is taken over.
let ownersOk = 0;
{
  const name = fresh('faults-owner');
  const first = start(quickRun(name));
  await waitFor(first, /▶/);
  const second = await run(quickRun(name));
  const refused = second.code === 2 && second.stderr.includes(`process ${first.child.pid}`);
  console.log(`second owner: exit ${second.code}: ${second.stderr.trim().split('\n').at(-1)}`);
  first.child.kill('SIGKILL');
  await first.done;
  const ok = refused && (await finish(name)) && identical(name);
  databases.push(dbOf(name));
  ownersOk = ok ? 1 : 0;
  console.log(`  after the owner was killed: taken over and ${ok ? 'identical' : 'NOT identical or failed'}`);
}

// Bad inputs: exit 2, the input named.
const scratch = join('runs', 'faults-inputs');
rmSync(scratch, { recursive: true, force: true });
mkdirSync(scratch, { recursive: true });
const cases = badInputs('faults-ref', scratch);
let clearErrors = 0;
for (const bad of cases) {
  const done = await run(bad.args, bad.trainer ? { executable: TRAINER } : {});
  const message = done.stderr.trim().split('\n').filter((line) => line.trim() !== '').at(-1) ?? '';
  const clear = done.code === 2 && done.stderr.includes(bad.names) && !/^\s+at /m.test(done.stderr);
  if (clear) clearErrors += 1;
  console.log(`${clear ? 'ok ' : 'BAD'} ${bad.what}: exit ${done.code}: ${message.slice(0, 160)}`);
}
const leftBehind = ['bad-a', 'someone-else'].filter((name) => existsSync(join('runs', name, 'arbor.db')));
for (const name of leftBehind) console.log(`BAD: a refused input left runs/${name}/arbor.db behind`);
rmSync(FAULTS_LINK, { force: true });

for (const path of databases) checkIntegrity(path);

console.log(
  `RESULT kills=${killed} resumed_identical=${resumedIdentical} double_sigint_ok=${doubleSigintOk} disk_full_ok=${diskFullOk} owners_ok=${ownersOk} ` +
    `bad_inputs=${cases.length} clear_errors=${clearErrors} integrity_ok=${integrityOk}`,
);
// Every case's outcome is asserted (exit 1 when one fails), after the RESULT line that counts them.
assert.equal(resumedIdentical, killed, 'every killed run resumed identical');
assert.equal(doubleSigintOk, 1, 'Ctrl-C twice stopped the run, which resumed identical');
if (diskFullTried) assert.equal(diskFullOk, 1, 'a full disk was named, left no temporary file, and the run resumed identical');
assert.equal(ownersOk, 1, 'a second owner was refused and the run taken over once the owner died');
assert.equal(clearErrors, cases.length, 'every bad input exited 2 naming the input');
assert.deepEqual(leftBehind, [], 'no refused input left a run database behind');
assert.equal(integrityOk, 1, 'every database passed integrity_check');
