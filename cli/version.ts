/**
 * `arbor --version`: what this install runs — Arbor's and node-llama-cpp's versions, the backend
 * llama.cpp picks for inference here, and what the native trainer was built with (its BLAS and CUDA
 * library: native/build.sh rebuilds when they change).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { getEngineLlama } from '../engine/llama.ts';
import { trainerBinaryPath } from '../train/trainer.ts';

const packageSchema = z.object({ version: z.string() });
const versionOf = (url: URL): string => packageSchema.parse(JSON.parse(readFileSync(url, 'utf8'))).version;

export async function versionCommand(): Promise<number> {
  const llama = await getEngineLlama('auto');
  const trainer = spawnSync(trainerBinaryPath(), ['--version'], { encoding: 'utf8' });
  process.stdout.write(
    [
      `arbor ${versionOf(new URL('../package.json', import.meta.url))}`,
      `node-llama-cpp ${versionOf(new URL('../node_modules/node-llama-cpp/package.json', import.meta.url))}: inference on ${llama.gpu === false ? 'the CPU' : llama.gpu} (${llama.cpuMathCores} CPU cores)`,
      trainer.status === 0 ? trainer.stdout.trim() : `arbor-trainer: not built (${trainerBinaryPath()}: npm run build:native)`,
      '',
    ].join('\n'),
  );
  return 0;
}
