/**
 * A model of Qwen2.5-0.5B's exact shapes for the benches that measure Arbor at a real size: qwen2,
 * hidden 896, 24 layers, 14 heads, 2 KV heads, FFN 4864, tied embeddings, the 151,936-token Qwen
 * vocabulary and chat template of the stand-in (train/standin-model.ts, from the npm tokenizer
 * package), random weights (seeded), quantized to Q8_0. Random weights never answer anything: what
 * it measures is time and memory, never quality.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeVocabGguf } from '../train/gguf-vocab.ts';
import { STANDIN_RECIPE, STANDIN_SOURCES } from '../train/standin-model.ts';
import { initModel, trainerBinaryPath } from '../train/trainer.ts';

export const HALF_B = { arch: 'qwen2', dim: 896, layers: 24, heads: 14, kvHeads: 2, ffn: 4864, ctx: 4096, tied: true } as const;

export interface HalfBModel {
  /** The Q8_0 GGUF. */
  path: string;
  /** Bytes of the F32 file it was quantized from: what a full fine-tune of this size writes per model. */
  f32Bytes: number;
}

/** Builds the Q8_0 model into `dir` (`q8_0.gguf`), or reuses the one there; the F32 file is deleted once quantized. */
export async function halfBModel(dir: string, seed = 1): Promise<HalfBModel> {
  const path = join(dir, 'q8_0.gguf');
  const sizeFile = join(dir, 'f32-bytes.txt');
  if (!existsSync(path) || !existsSync(sizeFile)) {
    await mkdir(dir, { recursive: true });
    const vocab = join(dir, 'vocab.gguf');
    await writeVocabGguf({ tokenizerJson: STANDIN_SOURCES.tokenizerJson, tokenizerConfig: STANDIN_SOURCES.tokenizerConfig, config: STANDIN_RECIPE.hfConfig, out: vocab });
    const f32 = join(dir, 'f32.gguf');
    await initModel({ vocabGguf: vocab, out: f32, seed, name: 'qwen2.5-0.5b-shapes', ...HALF_B });
    const quantized = spawnSync(trainerBinaryPath(), ['quantize', '--model', f32, '--out', `${path}.tmp`, '--type', 'q8_0'], { encoding: 'utf8' });
    if (quantized.status !== 0) throw new Error(`arbor-trainer quantize ${f32} failed: ${quantized.stderr}`);
    await writeFile(sizeFile, String(statSync(f32).size));
    await rm(f32);
    await rename(`${path}.tmp`, path);
  }
  return { path, f32Bytes: Number(readFileSync(sizeFile, 'utf8')) };
}
