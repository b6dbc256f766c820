/**
 * Training examples for the native trainer: tokens and weighted next-token targets per objective
 * (see native/README.md, `.arbtok`), built from validated JSONL rows (train/schema.ts), and the
 * `.arbtok` file writer and reader.
 *
 * Texts are tokenized chunk by chunk (prompt, then completion; or the PRM layout's chunks) and the
 * tokens concatenated: at inference the prompt is tokenized and the completion generated token by
 * token, so the boundary must not be merged across. A target at `pos` predicts `tokens[pos + 1]`
 * from `tokens[0..pos]`; the first token of a sequence is never a target (nothing precedes it).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { DEFAULT_PRM_FORMAT, labelTokenContext, layoutPrmText, type PrmFormat } from '../reward/prm-format.ts';
import { readTrainingJsonl, type DpoRow, type LmRow, type Objective, type PgRow, type PrmRow, type SftRow } from './schema.ts';
import { labelToken, tokenizeChunks, type TrainingTokenizer } from './tokenizer.ts';

export interface ArbtokTarget {
  /** The position whose next-token distribution is trained (after the model has seen tokens[0..pos]). */
  pos: number;
  token: number;
  weight: number;
}

export interface ArbtokExample {
  tokens: number[];
  targets: ArbtokTarget[];
  /** pg: the completion's signed advantage (a file of such examples sets ADVANTAGES_FLAG). */
  advantage?: number;
}

/** The header flag of a file whose every example ends with an f32 advantage (the pg objective). */
export const ADVANTAGES_FLAG = 1;

/** The good and bad label tokens of the PRM (see reward/prm-format.ts). */
export interface PrmLabelTokens {
  good: number;
  bad: number;
}

const MAGIC = 'ARBTOK01';
const HEADER_BYTES = 16;
const TARGET_BYTES = 12;

/** Targets predicting every token from index `from` on (never index 0), each with `weight`. */
function nextTokenTargets(tokens: readonly number[], from: number, weight: number): ArbtokTarget[] {
  const first = Math.max(from, 1);
  return tokens.slice(first).map((token, offset) => ({ pos: first + offset - 1, token, weight }));
}

/** items[index], for indices that are in range by construction. */
function itemAt<T>(items: readonly T[], index: number): T {
  const item = items[index];
  if (item === undefined) throw new RangeError(`index ${index} out of range (${items.length} items)`);
  return item;
}

/** [BOS] prompt completion EOS; targets on the completion's tokens and EOS. */
export function buildSftExample(row: SftRow, tokenizer: TrainingTokenizer): ArbtokExample {
  const { tokens, ends } = tokenizeChunks(tokenizer, [row.prompt, row.completion]);
  tokens.push(tokenizer.eos);
  return { tokens, targets: nextTokenTargets(tokens, itemAt(ends, 0), row.weight) };
}

/** [BOS] text EOS; every next token is a target. */
export function buildLmExample(row: LmRow, tokenizer: TrainingTokenizer): ArbtokExample {
  const { tokens } = tokenizeChunks(tokenizer, [row.text]);
  tokens.push(tokenizer.eos);
  return { tokens, targets: nextTokenTargets(tokens, 0, row.weight) };
}

/** A preference pair: [BOS] prompt chosen, then [BOS] prompt rejected; targets on each continuation. */
export function buildDpoExamples(row: DpoRow, tokenizer: TrainingTokenizer): [ArbtokExample, ArbtokExample] {
  const side = (continuation: string): ArbtokExample => {
    const { tokens, ends } = tokenizeChunks(tokenizer, [row.prompt, continuation]);
    return { tokens, targets: nextTokenTargets(tokens, itemAt(ends, 0), row.weight) };
  };
  return [side(row.chosen), side(row.rejected)];
}

/** [BOS] prompt completion (no EOS); targets on the completion's tokens, the row's advantage on the example. */
export function buildPgExample(row: PgRow, tokenizer: TrainingTokenizer): ArbtokExample {
  const { tokens, ends } = tokenizeChunks(tokenizer, [row.prompt, row.completion]);
  return { tokens, targets: nextTokenTargets(tokens, itemAt(ends, 0), row.weight), advantage: row.advantage };
}

/** The PRM layout; after each step's separator, v on the good label token and 1 − v on the bad one. */
export function buildPrmExample(
  row: PrmRow,
  tokenizer: TrainingTokenizer,
  labels: PrmLabelTokens,
  format: PrmFormat = DEFAULT_PRM_FORMAT,
): ArbtokExample {
  const layout = layoutPrmText(row.prompt, row.completions, format);
  const { tokens, ends } = tokenizeChunks(tokenizer, layout.chunks);
  const targets = row.labels.flatMap((value, step) => {
    const pos = itemAt(ends, itemAt(layout.markedChunks, step)) - 1;
    return [
      { pos, token: labels.good, weight: row.weight * value },
      { pos, token: labels.bad, weight: row.weight * (1 - value) },
    ];
  });
  return { tokens, targets };
}

export function prmLabelTokens(tokenizer: TrainingTokenizer, format: PrmFormat = DEFAULT_PRM_FORMAT): PrmLabelTokens {
  const context = labelTokenContext(format);
  const good = labelToken(tokenizer, format.goodLabel, context);
  const bad = labelToken(tokenizer, format.badLabel, context);
  if (good === bad) {
    throw new Error(`the PRM labels ${JSON.stringify(format.goodLabel)} and ${JSON.stringify(format.badLabel)} are the same token of ${tokenizer.name}`);
  }
  return { good, bad };
}

/** One example as it is stored in an `.arbtok` file, with the JSONL line it came from. */
export interface EncodedExample {
  line: number;
  tokenCount: number;
  targetCount: number;
  /** One sequence per row; two for a dpo row (chosen, rejected), which stay side by side. */
  records: Buffer[];
}

export function encodeArbtokExample(example: ArbtokExample): Buffer {
  const { tokens, targets, advantage } = example;
  const record = Buffer.alloc(8 + 4 * tokens.length + TARGET_BYTES * targets.length + (advantage === undefined ? 0 : 4));
  record.writeUInt32LE(tokens.length, 0);
  record.writeUInt32LE(targets.length, 4);
  let offset = 8;
  for (const token of tokens) offset = record.writeInt32LE(token, offset);
  for (const target of targets) {
    offset = record.writeUInt32LE(target.pos, offset);
    offset = record.writeInt32LE(target.token, offset);
    offset = record.writeFloatLE(target.weight, offset);
  }
  if (advantage !== undefined) record.writeFloatLE(advantage, offset);
  return record;
}

export interface TokenizeOptions {
  /** Longest allowed sequence in tokens (the model's context length). */
  contextLength: number;
  prmFormat?: PrmFormat;
}

/**
 * Reads, validates and tokenizes a training JSONL file into encoded examples, one per row. Throws
 * naming the file and line for a bad row or a sequence longer than the context.
 */
export async function tokenizeTrainingJsonl(
  path: string,
  objective: Objective,
  tokenizer: TrainingTokenizer,
  options: TokenizeOptions,
): Promise<EncodedExample[]> {
  const rows = await buildExamples(path, objective, tokenizer, options.prmFormat ?? DEFAULT_PRM_FORMAT);
  return rows.map(({ line, examples }) => {
    for (const example of examples) {
      if (example.tokens.length > options.contextLength) {
        throw new Error(
          `${path}:${line}: the sequence is ${example.tokens.length} tokens, longer than the model's context of ${options.contextLength}`,
        );
      }
      if ((objective === 'dpo' || objective === 'pg') && example.targets.length === 0) throw new Error(`${path}:${line}: a continuation has no tokens of its own`);
    }
    return {
      line,
      tokenCount: examples.reduce((sum, example) => sum + example.tokens.length, 0),
      targetCount: examples.reduce((sum, example) => sum + example.targets.length, 0),
      records: examples.map(encodeArbtokExample),
    };
  });
}

async function buildExamples(
  path: string,
  objective: Objective,
  tokenizer: TrainingTokenizer,
  prmFormat: PrmFormat,
): Promise<{ line: number; examples: ArbtokExample[] }[]> {
  switch (objective) {
    case 'sft':
      return (await readTrainingJsonl(path, 'sft')).map(({ line, row }) => ({ line, examples: [buildSftExample(row, tokenizer)] }));
    case 'lm':
      return (await readTrainingJsonl(path, 'lm')).map(({ line, row }) => ({ line, examples: [buildLmExample(row, tokenizer)] }));
    case 'prm': {
      const rows = await readTrainingJsonl(path, 'prm');
      const labels = prmLabelTokens(tokenizer, prmFormat);
      return rows.map(({ line, row }) => ({ line, examples: [buildPrmExample(row, tokenizer, labels, prmFormat)] }));
    }
    case 'dpo':
      return (await readTrainingJsonl(path, 'dpo')).map(({ line, row }) => ({ line, examples: buildDpoExamples(row, tokenizer) }));
    case 'pg':
      return (await readTrainingJsonl(path, 'pg')).map(({ line, row }) => ({ line, examples: [buildPgExample(row, tokenizer)] }));
  }
}

/**
 * Writes an `.arbtok` file atomically (a temporary file renamed into place: a retried job never reads
 * half a file); `flags` says what every record carries (ADVANTAGES_FLAG).
 */
export async function writeArbtok(path: string, records: readonly Uint8Array[], flags = 0): Promise<void> {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(records.length, 8);
  header.writeUInt32LE(flags, 12);
  const temporary = `${path}.${process.pid}.tmp`;
  const stream = createWriteStream(temporary);
  try {
    for (const chunk of [header, ...records]) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
    await finished(stream);
    await rename(temporary, path);
  } catch (error) {
    stream.destroy();
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Reads a whole `.arbtok` file (for tests and inspection), checking its structure. */
export async function readArbtok(path: string): Promise<ArbtokExample[]> {
  const data = await readFile(path);
  const fail = (problem: string): never => {
    throw new Error(`${path}: not a valid .arbtok file: ${problem}`);
  };
  if (data.length < HEADER_BYTES || data.toString('latin1', 0, 8) !== MAGIC) fail(`missing the ${MAGIC} header`);
  const count = data.readUInt32LE(8);
  const flags = data.readUInt32LE(12);
  if ((flags & ~ADVANTAGES_FLAG) !== 0) fail(`unknown flags ${flags}`);
  const advantageBytes = flags & ADVANTAGES_FLAG ? 4 : 0;
  const examples: ArbtokExample[] = [];
  let offset = HEADER_BYTES;
  for (let index = 0; index < count; index++) {
    if (offset + 8 > data.length) fail(`truncated at example ${index}`);
    const tokenCount = data.readUInt32LE(offset);
    const targetCount = data.readUInt32LE(offset + 4);
    offset += 8;
    if (offset + 4 * tokenCount + TARGET_BYTES * targetCount + advantageBytes > data.length) fail(`truncated at example ${index}`);
    const tokens: number[] = [];
    for (let t = 0; t < tokenCount; t++, offset += 4) tokens.push(data.readInt32LE(offset));
    const targets: ArbtokTarget[] = [];
    for (let t = 0; t < targetCount; t++, offset += TARGET_BYTES) {
      targets.push({ pos: data.readUInt32LE(offset), token: data.readInt32LE(offset + 4), weight: data.readFloatLE(offset + 8) });
    }
    if (advantageBytes > 0) {
      examples.push({ tokens, targets, advantage: data.readFloatLE(offset) });
      offset += advantageBytes;
    } else {
      examples.push({ tokens, targets });
    }
  }
  if (offset !== data.length) fail(`${data.length - offset} bytes after the last example`);
  return examples;
}

/** Hex sha256 of a file's bytes (recorded in the trained model as `arbor.data_sha256`). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
