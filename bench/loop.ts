/**
 * bench/loop (`npm run bench:loop`): the default run (3 iterations, micro model, arithmetic task)
 * from scratch, inline, fixed seeds; then its base and final held-out accuracies, PRM quality and
 * wall time; prm_auc is the step AUC of the final (last promoted) PRM. Last line: RESULT base_acc34=… final_acc34=… prm_auc=… acc12=… minutes=…
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { IterationRecord, RunResult } from '../workflows/types.ts';

const { values } = parseArgs({ options: { name: { type: 'string', default: 'bench-loop' }, keep: { type: 'boolean' } }, strict: true });
const runDir = join('runs', values.name);
if (!values.keep) await rm(runDir, { recursive: true, force: true });

const started = performance.now();
const code = await new Promise<number | null>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/arbor.ts', 'run', '--inline', '--name', values.name], { stdio: 'inherit' });
  child.on('exit', resolve);
});
const minutes = (performance.now() - started) / 60_000;
if (code !== 0) throw new Error(`arbor run exited with ${code}`);
const result = JSON.parse(await readFile(join(runDir, 'report.json'), 'utf8')) as RunResult;

const mean = (record: IterationRecord | undefined, operators: string[]): number => {
  const values = operators.map((k) => record?.accuracyByOperators[k]).filter((v): v is number => v !== undefined);
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
};
const base = result.iterations.find((record) => record.iteration === 0);
// The final policy is the last promoted one (or the base when none was).
const final = [...result.iterations].reverse().find((record) => record.promoted) ?? base;
console.log(`base policy ${base?.policyPath}: 1-2 op ${(mean(base, ['1', '2']) * 100).toFixed(1)}%, 3-4 op ${(mean(base, ['3', '4']) * 100).toFixed(1)}%`);
console.log(`final PRM ${result.best?.prmPath}: step AUC ${result.best?.prmAuc?.toFixed(3)} (the last promoted one)`);
console.log(`final policy ${final?.policyPath} (iteration ${final?.iteration}): 1-2 op ${(mean(final, ['1', '2']) * 100).toFixed(1)}%, 3-4 op ${(mean(final, ['3', '4']) * 100).toFixed(1)}%`);
console.log(
  `RESULT base_acc34=${mean(base, ['3', '4']).toFixed(3)} final_acc34=${mean(final, ['3', '4']).toFixed(3)} prm_auc=${(result.best?.prmAuc ?? NaN).toFixed(3)} ` +
    `acc12=${mean(final, ['1', '2']).toFixed(3)} minutes=${minutes.toFixed(1)}`,
);
