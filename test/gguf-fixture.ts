// Writes small GGUF v3 files for tests that need models the trainer must refuse (another
// architecture, quantized weights). Tensor data is zeros; the bytes come from train/gguf-vocab.ts.
import { writeFile } from 'node:fs/promises';
import { GGUF_ALIGNMENT, GGUF_VERSION, GgufBytes } from '../train/gguf-vocab.ts';

// ggml type id, elements per block, bytes per block
const TENSOR_TYPES = { f32: [0, 1, 4], q8_0: [8, 32, 34] } as const;

export interface FixtureTensor {
  name: string;
  type: keyof typeof TENSOR_TYPES;
  dims: number[];
}

export async function writeGgufFile(path: string, metadata: Record<string, string | number>, tensors: FixtureTensor[]): Promise<void> {
  const w = new GgufBytes();
  w.raw(Buffer.from('GGUF', 'ascii'));
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) w.metadata(key, typeof value === 'string' ? { type: 'string', value } : { type: 'uint32', value });
  const sizes = tensors.map((t) => {
    const [, blockElements, blockBytes] = TENSOR_TYPES[t.type];
    const elements = t.dims.reduce((a, b) => a * b, 1);
    return (elements / blockElements) * blockBytes;
  });
  let offset = 0;
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(TENSOR_TYPES[t.type][0]);
    w.u64(offset);
    offset += Math.ceil((sizes[i] ?? 0) / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  });
  w.padTo(GGUF_ALIGNMENT);
  w.raw(Buffer.alloc(offset));
  await writeFile(path, w.toBuffer());
}
