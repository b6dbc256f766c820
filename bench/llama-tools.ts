/** Builds, when missing, the binaries the benches compare (Arbor's trainer, llama.cpp's own tools: bench/build-llama-tool.sh). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs `script args` (a path from the repository root) unless `binary` exists; throws naming both when it does not build it. */
export function ensureBuilt(binary: string, script: string, ...args: string[]): void {
  if (existsSync(binary)) return;
  const result = spawnSync('bash', [join(ROOT, script), ...args], { stdio: 'inherit' });
  if (result.status !== 0 || !existsSync(binary)) throw new Error(`${script} ${args.join(' ')} did not build ${binary}`);
}

/**
 * The folder of node-llama-cpp's prebuilt libraries (CPU, or its CUDA build). llama.cpp's tools find
 * their ggml backends with ggml_backend_load_all(), which searches the working directory: run them there.
 */
export function prebuiltDir(variant: 'cpu' | 'cuda' = 'cpu'): string {
  const platform = `${process.platform}-${process.arch}${variant === 'cuda' ? '-cuda' : ''}`;
  return join(ROOT, 'node_modules/@node-llama-cpp', platform, 'bins', platform);
}
