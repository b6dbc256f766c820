/**
 * `arbor status|pause|resume|stop NAME`: a run under Temporal gets the signal / query; an inline
 * run (no server reachable) reads and writes the control file in its run directory, which its
 * process checks between activities.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CONTROL_FILE, inlineStartInput, readControl, writeControl } from '../runtime/inline.ts';
import { resolveTemporal } from '../runtime/temporal.ts';
import { stageMinutes } from '../report/data.ts';
import { iterationTable, markdownTable } from '../report/tables.ts';
import type { arborRun } from '../workflows/run-workflow.ts';
import { pauseSignal, progressQuery, resumeSignal, STAGES, stopSignal, workflowIdOf } from '../workflows/names.ts';
import { openStore } from './inspect.ts';
import { runDirFromArgs } from './run-name.ts';
import { DATABASE_FILE, REPORT_FILE } from '../activities/run-dir.ts';
import { readOwner } from '../runtime/owner.ts';
import { runConfigSchema } from '../workflows/config.ts';


export const CONTROL_HELP = `arbor status|pause|resume|stop — watch and steer a run

usage: arbor <status|pause|resume|stop> NAME [--run-dir DIR] [--profile P] [--inline]

  status   where the run stands: iteration, stage, best accuracy, per-iteration table
  pause    hold the run after the current activity
  resume   let a paused run go on
  stop     end the run after the current activity (\`arbor run\` with the same name continues it)

Under Temporal these are the workflow's signals and progress query; for an inline run (or with
--inline) they go through <run dir>/control.json. Exit codes: 0 done, 2 bad input or unknown run.
`;

/**
 * Minutes per stage and iteration from the recorded activity attempts (every attempt counts: a
 * retried or resumed activity cost its time too), who is running the run, and an estimate of what is
 * left: the mean of the finished iterations' minutes times the iterations to go. Null without a database.
 */
export function stageReport(runDir: string): string | null {
  if (!existsSync(join(runDir, DATABASE_FILE))) return null;
  const store = openStore(runDir);
  try {
    const iterations = runConfigSchema.parse(store.storedConfig()).iterations;
    const minutes = new Map<number, Map<string, number>>();
    for (const entry of stageMinutes(store.activityAttempts(), Date.now())) {
      minutes.set(entry.iteration, (minutes.get(entry.iteration) ?? new Map<string, number>()).set(entry.stage, entry.minutes));
    }
    const total = (row: Map<string, number>): number => [...row.values()].reduce((a, b) => a + b, 0);
    const rows = [...minutes].sort(([a], [b]) => a - b).map(([iteration, row]) => [String(iteration), ...STAGES.map((stage) => (row.get(stage) ?? 0).toFixed(2)), total(row).toFixed(2)]);
    const finished = [...minutes].filter(([iteration, row]) => iteration > 0 && row.has('promote')).map(([, row]) => total(row));
    const left = iterations - finished.length;
    const owner = readOwner(runDir);
    const lines = [
      owner === null ? 'not running' : `running: process ${owner.pid} on ${owner.host} since ${owner.since}`,
      ...(existsSync(join(runDir, REPORT_FILE)) ? [`report: ${join(runDir, REPORT_FILE)}`] : []),
      '',
      'minutes per stage (iteration 0: preparing the base models)',
      markdownTable(['iteration', ...STAGES, 'total'], rows),
    ];
    if (finished.length > 0 && left > 0) {
      const mean = finished.reduce((a, b) => a + b, 0) / finished.length;
      lines.push('', `about ${(mean * left).toFixed(0)} min left: ${left} iteration(s) at the ${mean.toFixed(1)} min the finished ones took on average`);
    }
    return lines.join('\n');
  } finally {
    store.close();
  }
}

export async function controlCommand(action: 'status' | 'pause' | 'resume' | 'stop', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { 'run-dir': { type: 'string' }, profile: { type: 'string' }, inline: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CONTROL_HELP);
    return 0;
  }
  const { name, runDir } = runDirFromArgs(action, positionals, values['run-dir']);
  const temporal = values.inline ? { unavailable: '--inline' } : await resolveTemporal({ profile: values.profile });
  if (!('unavailable' in temporal)) {
    try {
      const handle = temporal.client.workflow.getHandle<typeof arborRun>(workflowIdOf(name));
      if (action === 'status') {
        const progress = await handle.query(progressQuery);
        process.stdout.write(progress === null ? `run '${name}': starting\n` : `${progress.line}\n\n${iterationTable(progress.history)}\n`);
        const stages = stageReport(runDir);
        if (stages !== null) process.stdout.write(`\n${stages}\n`);
      } else {
        await handle.signal(action === 'pause' ? pauseSignal : action === 'resume' ? resumeSignal : stopSignal);
        process.stdout.write(`run '${name}': ${action} signal sent\n`);
      }
      return 0;
    } finally {
      await temporal.close();
    }
  }
  if (!existsSync(runDir)) {
    process.stderr.write(`arbor ${action}: no run '${name}' (no ${runDir}) and no Temporal server (${temporal.unavailable})\n`);
    return 2;
  }
  const control = await readControl(runDir);
  if (action === 'status') {
    const state = await inlineStartInput(runDir, 0);
    const flags = [control.paused ? 'paused' : '', control.stop ? 'stop requested' : ''].filter(Boolean).join(', ');
    const next = state.best === null ? 'preparing' : `${Math.max(0, state.history.length - 1)} iteration(s) done, next ${state.iteration}`;
    process.stdout.write(`run '${name}' (inline, ${runDir}): ${next}${flags === '' ? '' : ` — ${flags}`}\n\n${iterationTable(state.history)}\n`);
    const stages = stageReport(runDir);
    if (stages !== null) process.stdout.write(`\n${stages}\n`);
    return 0;
  }
  await writeControl(runDir, action === 'pause' ? { ...control, paused: true } : action === 'resume' ? { paused: false, stop: false } : { ...control, stop: true });
  process.stdout.write(`run '${name}': ${action} recorded in ${join(runDir, CONTROL_FILE)} (takes effect between activities)\n`);
  return 0;
}
