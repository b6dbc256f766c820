/**
 * bench/micro (`npm run bench:micro [-- --rebuild]`): greedy accuracy of the committed micro model on
 * the fixed held-out problems, by number of operators. build_minutes is the build time recorded
 * when the model was built; `--rebuild` builds it again from scratch here and measures both anew.
 */
import { parseArgs } from 'node:util';
import { accuracyByLevel, accuracyTable, buildAndReport, evaluateHeldOut } from '../cli/micro.ts';
import { COMMITTED_MICRO_MODEL, MICRO_BUILD_THREADS, readMicroReport } from '../train/micro-model.ts';

const { values } = parseArgs({ options: { rebuild: { type: 'boolean' }, model: { type: 'string' } }, strict: true });

let modelPath = values.model ?? COMMITTED_MICRO_MODEL;
let buildMinutes: number;
let accuracy: Record<string, number>;
if (values.rebuild) {
  modelPath = 'runs/bench-micro/arbor-micro.gguf';
  const { build, evaluation } = await buildAndReport(modelPath, 'runs/bench-micro/work', MICRO_BUILD_THREADS);
  buildMinutes = build.minutes;
  accuracy = accuracyByLevel(evaluation);
  console.log(`rebuilt ${modelPath} in ${build.minutes.toFixed(2)} min (trainer ${Math.round(build.trainerTokensPerSecond)} tok/s)`);
  console.log(accuracyTable(evaluation));
} else {
  const report = await readMicroReport(modelPath);
  buildMinutes = report.buildMinutes;
  const evaluation = await evaluateHeldOut(modelPath, 1);
  accuracy = accuracyByLevel(evaluation);
  console.log(`${modelPath} (built in ${buildMinutes.toFixed(2)} min, recorded in its report)`);
  console.log(accuracyTable(evaluation));
}
const fields = [1, 2, 3, 4, 5].map((k) => `acc${k}=${(accuracy[String(k)] ?? NaN).toFixed(3)}`);
console.log(`RESULT ${fields.join(' ')} build_minutes=${buildMinutes.toFixed(2)}`);
