// Writes small GGUF v3 files for tests that need models the trainer must refuse (another
// architecture, quantized weights). Tensor data is zeros.
import { writeFile } from 'node:fs/promises';

const ALIGNMENT = 32;
const GGUF_UINT32 = 4;
const GGUF_STRING = 8;
// ggml type id, elements per block, bytes per block
const TENSOR_TYPES = { f32: [0, 1, 4], q8_0: [8, 32, 34] } as const;

export interface FixtureTensor {
  name: string;
  type: keyof typeof TENSOR_TYPES;
  dims: number[];
}

class ByteWriter {
  private readonly chunks: Buffer[] = [];
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.chunks.push(b);
  }
  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.chunks.push(b);
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.chunks.push(bytes);
  }
  bytes(buffer: Buffer): void {
    this.chunks.push(buffer);
  }
  padTo(alignment: number): void {
    const length = this.length();
    this.chunks.push(Buffer.alloc((alignment - (length % alignment)) % alignment));
  }
  length(): number {
    return this.chunks.reduce((sum, c) => sum + c.length, 0);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export async function writeGgufFile(path: string, metadata: Record<string, string | number>, tensors: FixtureTensor[]): Promise<void> {
  const w = new ByteWriter();
  w.bytes(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    w.string(key);
    if (typeof value === 'string') {
      w.u32(GGUF_STRING);
      w.string(value);
    } else {
      w.u32(GGUF_UINT32);
      w.u32(value);
    }
  }
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
    offset += Math.ceil((sizes[i] ?? 0) / ALIGNMENT) * ALIGNMENT;
  });
  w.padTo(ALIGNMENT);
  w.bytes(Buffer.alloc(offset));
  await writeFile(path, w.toBuffer());
}
