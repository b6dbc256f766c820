/**
 * A metadata-only GGUF holding a Hugging Face byte-level BPE tokenizer (Qwen2 / Qwen3 family) in
 * llama.cpp's form, for `arbor-trainer init --vocab-gguf`. It follows llama.cpp's
 * `convert_hf_to_gguf.py` (`_set_vocab_gpt2` + `gguf.SpecialVocab`) key by key, so a model built on it
 * tokenizes and renders chats as a converted Qwen model does:
 *
 * - `tokenizer.ggml.model = "gpt2"`, `tokenizer.ggml.pre = "qwen2"` (the converter picks it by hashing
 *   the tokenization of a probe text; here the pre-tokenizer regex is checked instead);
 * - `tokenizer.ggml.tokens` in id order (vocabulary then added tokens, no holes) and
 *   `tokenizer.ggml.token_type`: 1 normal, 3 control for added tokens that are special *or look
 *   special* (`<|…|>`: the converter's rule, so `<|fim_prefix|>` is control although not special),
 *   4 user-defined for the other added tokens;
 * - `tokenizer.ggml.merges` as "a b" strings (pair-form merges joined, spaces inside a part written as
 *   U+0120 as the converter does);
 * - special token ids from tokenizer_config.json (`eos_token`, `pad_token`, …) resolved through the
 *   added tokens, then any still unset from `config` (the model's config.json: Qwen's bos id lives
 *   only there); `add_bos_token` / `add_eos_token` when tokenizer_config.json has them;
 * - `tokenizer.chat_template` from tokenizer_config.json.
 *
 * - with config.json's `vocab_size`, the token list padded to it with unused `[PADn]` tokens (type 5),
 *   as the converter does (Qwen3: 151,936 rows for 151,669 tokens).
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
const GGUF_TYPE = { uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9, uint64: 10 } as const;
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

/** llama.cpp `llama_token_type`. */
export const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;

/** The pre-tokenizer split regex of Qwen2/Qwen3 tokenizer.json, which llama.cpp's "qwen2" pre-tokenizer implements. */
export const QWEN2_PRETOKENIZER_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const addedTokenSchema = z.looseObject({ id: z.number().int().nonnegative(), content: z.string(), special: z.boolean(), normalized: z.boolean().optional() });

export const hfTokenizerJsonSchema = z.looseObject({
  added_tokens: z.array(addedTokenSchema).default([]),
  pre_tokenizer: z.unknown(),
  model: z.looseObject({
    type: z.literal('BPE'),
    vocab: z.record(z.string(), z.number().int().nonnegative()),
    merges: z.union([z.array(z.string()), z.array(z.tuple([z.string(), z.string()]))]),
  }),
});
export type HfTokenizerJson = z.infer<typeof hfTokenizerJsonSchema>;

const specialTokenEntry = z.union([z.string(), z.looseObject({ content: z.string() }), z.null()]).optional();
export const hfTokenizerConfigSchema = z.looseObject({
  chat_template: z.string().optional(),
  add_bos_token: z.boolean().optional(),
  add_eos_token: z.boolean().optional(),
  bos_token: specialTokenEntry,
  eos_token: specialTokenEntry,
  unk_token: specialTokenEntry,
  sep_token: specialTokenEntry,
  pad_token: specialTokenEntry,
  cls_token: specialTokenEntry,
  mask_token: specialTokenEntry,
});
export type HfTokenizerConfig = z.infer<typeof hfTokenizerConfigSchema>;

/**
 * What the converter reads from a model's config.json: special-token ids (`bos_token_id`, …) used where
 * tokenizer_config.json names none, and `vocab_size`, the embedding rows (ids past the tokenizer's
 * become unused `[PADn]` tokens).
 */
export type HfModelConfig = Partial<Record<`${SpecialType}_token_id`, number>> & { vocab_size?: number };

/** SpecialVocab's special token types, in its order; GGUF key names differ for pad. */
const SPECIAL_TYPES = ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'] as const;
type SpecialType = (typeof SPECIAL_TYPES)[number];
const SPECIAL_KEY: Record<SpecialType, string> = {
  bos: 'tokenizer.ggml.bos_token_id',
  eos: 'tokenizer.ggml.eos_token_id',
  unk: 'tokenizer.ggml.unknown_token_id',
  sep: 'tokenizer.ggml.seperator_token_id', // sic: llama.cpp's key name
  pad: 'tokenizer.ggml.padding_token_id',
  cls: 'tokenizer.ggml.cls_token_id',
  mask: 'tokenizer.ggml.mask_token_id',
};

export type MetadataValue =
  | { type: 'string'; value: string }
  | { type: 'uint32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'int32s'; value: readonly number[] };

export interface GgufVocab {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  /** Special token ids by SpecialVocab type (bos, eos, pad, …). */
  specialIds: Partial<Record<SpecialType, number>>;
  addBos: boolean | undefined;
  addEos: boolean | undefined;
  chatTemplate: string | undefined;
}

/** The converter's `does_token_look_special` (the cases that apply to BPE vocabularies). */
function looksSpecial(token: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(token) ||
    (token.startsWith('<|') && token.endsWith('|>')) ||
    (token.startsWith('<｜') && token.endsWith('｜>')) ||
    (token.startsWith('<unused') && token.endsWith('>'))
  );
}

function contentOf(entry: z.infer<typeof specialTokenEntry>): string | undefined {
  if (typeof entry === 'string') return entry;
  return entry?.content;
}

/** The vocabulary in llama.cpp's form, computed as convert_hf_to_gguf.py does (see the module comment). */
export function ggufVocabFromHf(tokenizerJson: unknown, tokenizerConfig: unknown, config: HfModelConfig = {}): GgufVocab {
  const tokenizer = hfTokenizerJsonSchema.parse(tokenizerJson);
  const tokenizerConf = hfTokenizerConfigSchema.parse(tokenizerConfig);
  const regex = findSplitRegex(tokenizer.pre_tokenizer);
  if (regex !== QWEN2_PRETOKENIZER_REGEX) {
    throw new Error(`tokenizer.json: the pre-tokenizer is not Qwen2's (split regex ${JSON.stringify(regex)}); llama.cpp's "qwen2" pre-tokenizer would not match it`);
  }

  const added = new Map(tokenizer.added_tokens.map((token) => [token.id, token]));
  const byId = new Map<number, string>();
  const place = (id: number, text: string): void => {
    const existing = byId.get(id);
    if (existing !== undefined && existing !== text) throw new Error(`tokenizer.json: id ${id} is both ${JSON.stringify(existing)} and ${JSON.stringify(text)}`);
    byId.set(id, text);
  };
  for (const [text, id] of Object.entries(tokenizer.model.vocab)) place(id, text);
  for (const token of tokenizer.added_tokens) place(token.id, token.content);
  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  for (let id = 0; id < byId.size; id++) {
    let text = byId.get(id);
    if (text === undefined) throw new Error(`tokenizer.json: no token has id ${id} (ids must run 0…${byId.size - 1} without holes)`);
    const addedToken = added.get(id);
    if (addedToken === undefined) {
      tokenTypes.push(TOKEN_TYPE.normal);
    } else if (addedToken.special || looksSpecial(text)) {
      tokenTypes.push(TOKEN_TYPE.control);
    } else {
      text = text.replaceAll('\u2581', ' '); // the converter pre-normalizes user-defined '▁' to spaces
      tokenTypes.push(TOKEN_TYPE.userDefined);
    }
    tokens.push(text);
  }
  const vocabSize = config.vocab_size ?? tokens.length;
  if (vocabSize < tokens.length) throw new Error(`vocab_size ${vocabSize} is smaller than the tokenizer's ${tokens.length} tokens`);
  for (let id = tokens.length; id < vocabSize; id++) {
    tokens.push(`[PAD${id}]`);
    tokenTypes.push(TOKEN_TYPE.unused);
  }

  const merges = tokenizer.model.merges.map((merge) =>
    typeof merge === 'string' ? merge : merge.map((part) => part.replaceAll(' ', '\u0120')).join(' '),
  );

  // SpecialVocab: tokenizer_config.json names resolved through added_tokens first, then config.json ids.
  const specialIds: GgufVocab['specialIds'] = {};
  for (const type of SPECIAL_TYPES) {
    const content = contentOf(tokenizerConf[`${type}_token`]);
    const id = content === undefined ? undefined : tokenizer.added_tokens.find((token) => token.content === content)?.id;
    if (id !== undefined) specialIds[type] = id;
  }
  for (const type of SPECIAL_TYPES) {
    const id = config[`${type}_token_id`];
    if (id !== undefined && specialIds[type] === undefined && id < tokens.length) specialIds[type] = id;
  }
  return {
    tokens,
    tokenTypes,
    merges,
    specialIds,
    addBos: tokenizerConf.add_bos_token,
    addEos: tokenizerConf.add_eos_token,
    chatTemplate: tokenizerConf.chat_template,
  };
}

/** The `Split` pre-tokenizer's regex, inside a `Sequence` or alone. */
function findSplitRegex(preTokenizer: unknown): string | undefined {
  const split = z.looseObject({ type: z.literal('Split'), pattern: z.looseObject({ Regex: z.string() }) });
  const sequence = z.looseObject({ type: z.literal('Sequence'), pretokenizers: z.array(z.unknown()) });
  const candidates = sequence.safeParse(preTokenizer).data?.pretokenizers ?? [preTokenizer];
  for (const candidate of candidates) {
    const parsed = split.safeParse(candidate);
    if (parsed.success) return parsed.data.pattern.Regex;
  }
  return undefined;
}

/** The metadata keys in the converter's order. */
export function vocabMetadata(vocab: GgufVocab): [string, MetadataValue][] {
  const entries: [string, MetadataValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'qwen2' }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: vocab.tokens }],
    ['tokenizer.ggml.token_type', { type: 'int32s', value: vocab.tokenTypes }],
    ['tokenizer.ggml.merges', { type: 'strings', value: vocab.merges }],
  ];
  // SpecialVocab writes ids in the order it found them: tokenizer_config.json's, then config.json's.
  for (const [type, id] of Object.entries(vocab.specialIds) as [SpecialType, number][]) entries.push([SPECIAL_KEY[type], { type: 'uint32', value: id }]);
  if (vocab.addBos !== undefined) entries.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: vocab.addBos }]);
  if (vocab.addEos !== undefined) entries.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: vocab.addEos }]);
  if (vocab.chatTemplate !== undefined) entries.push(['tokenizer.chat_template', { type: 'string', value: vocab.chatTemplate }]);
  return entries;
}

/** Little-endian GGUF bytes: the primitives and typed metadata values (gguf.h). */
export class GgufBytes {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private push(buffer: Buffer): void {
    this.chunks.push(buffer);
    this.size += buffer.length;
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.push(b);
  }
  i32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    this.push(b);
  }
  u64(value: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(value));
    this.push(b);
  }
  bool(value: boolean): void {
    this.push(Buffer.from([value ? 1 : 0]));
  }
  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  raw(buffer: Buffer): void {
    this.push(buffer);
  }
  padTo(alignment: number): void {
    this.push(Buffer.alloc((alignment - (this.size % alignment)) % alignment));
  }
  metadata(key: string, entry: MetadataValue): void {
    this.string(key);
    switch (entry.type) {
      case 'string':
        this.u32(GGUF_TYPE.string);
        this.string(entry.value);
        break;
      case 'uint32':
        this.u32(GGUF_TYPE.uint32);
        this.u32(entry.value);
        break;
      case 'bool':
        this.u32(GGUF_TYPE.bool);
        this.bool(entry.value);
        break;
      case 'strings':
        this.u32(GGUF_TYPE.array);
        this.u32(GGUF_TYPE.string);
        this.u64(entry.value.length);
        for (const value of entry.value) this.string(value);
        break;
      case 'int32s':
        this.u32(GGUF_TYPE.array);
        this.u32(GGUF_TYPE.int32);
        this.u64(entry.value.length);
        for (const value of entry.value) this.i32(value);
        break;
    }
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

/** A GGUF v3 file with these metadata keys and no tensors (padded as ggml's own writer pads it). */
export function encodeMetadataGguf(entries: readonly [string, MetadataValue][]): Buffer {
  const w = new GgufBytes();
  w.raw(Buffer.from('GGUF', 'ascii'));
  w.u32(GGUF_VERSION);
  w.u64(0); // tensors
  w.u64(entries.length);
  for (const [key, entry] of entries) w.metadata(key, entry);
  w.padTo(GGUF_ALIGNMENT);
  return w.toBuffer();
}

/**
 * Reads a HF tokenizer.json + tokenizer_config.json (and optionally the model's config.json ids) and
 * writes the vocabulary GGUF to `out` (atomically). Returns the vocabulary it wrote.
 */
export async function writeVocabGguf(options: {
  tokenizerJson: string;
  tokenizerConfig: string;
  config?: HfModelConfig;
  out: string;
}): Promise<GgufVocab> {
  const readJson = async (path: string): Promise<unknown> => JSON.parse(await readFile(path, 'utf8'));
  const vocab = ggufVocabFromHf(await readJson(options.tokenizerJson), await readJson(options.tokenizerConfig), options.config);
  const temporary = `${options.out}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, encodeMetadataGguf(vocabMetadata(vocab)));
    await rename(temporary, options.out);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return vocab;
}
