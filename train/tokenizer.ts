/**
 * Tokenization shared by training and inference, with the model's own vocabulary through
 * node-llama-cpp (for training only the vocabulary is loaded, no weights). A text start (a prompt)
 * may hold the model's special tokens written out, as a rendered chat template does: they are read
 * as those tokens. Continuations (completions, steps, labels) are plain text: a control-token
 * string in them stays text, as it does when a model generates it.
 */
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { resolveModelFiles } from '../engine/model-files.ts';

/** What example building needs from a tokenizer (an interface, so examples can be built with any vocabulary). */
export interface TrainingTokenizer {
  /** Names the vocabulary in error messages (the model path). */
  readonly name: string;
  /** The token every sequence starts with, or null when the model wants none. */
  readonly bos: number | null;
  readonly eos: number;
  /** Text that starts a sequence → tokens, without BOS/EOS, special tokens read (SPM vocabularies may add a leading-space token). */
  tokenize(text: string): number[];
  /**
   * Text that continues a sequence → tokens, without the leading-space token a tokenizer adds at the
   * start of a text: the tokens a model generating this text after earlier text would produce.
   */
  tokenizeContinuation(text: string): number[];
}

export interface ModelTrainingTokenizer extends TrainingTokenizer {
  /** The context length the model was built for (`<arch>.context_length`): no example may be longer. */
  readonly contextLength: number;
  dispose(): Promise<void>;
}

/**
 * Loads the vocabulary of a GGUF model (of its base, for a LoRA adapter: an adapter has none). Pass
 * `llama` to share a node-llama-cpp instance the process already has; otherwise a CPU-only one is
 * created (tokenizing needs no GPU) and disposed with the tokenizer.
 */
export async function loadTrainingTokenizer(modelPath: string, options: { llama?: Llama } = {}): Promise<ModelTrainingTokenizer> {
  const { base } = await resolveModelFiles(modelPath);
  const llama = options.llama ?? (await getLlama({ gpu: false, maxThreads: 1 }));
  const disposeOwnLlama = async (): Promise<void> => {
    if (options.llama === undefined) await llama.dispose();
  };
  const model = await llama.loadModel({ modelPath: base, vocabOnly: true }).catch(async (error: unknown) => {
    await disposeOwnLlama();
    throw error;
  });
  const dispose = async (): Promise<void> => {
    await model.dispose();
    await disposeOwnLlama();
  };
  const eos = model.tokens.eos;
  // model.trainContextSize reads 0 when only the vocabulary is loaded: take it from the GGUF metadata
  const contextLength = model.fileInfo.architectureMetadata.context_length;
  if (eos === null || contextLength === undefined) {
    await dispose();
    throw new Error(`${modelPath}: the model has no ${eos === null ? 'EOS token' : 'context_length in its metadata'}`);
  }
  return { ...modelTokenizer(model, modelPath), eos, contextLength, dispose };
}

/** The tokenizer of a loaded model (weights or vocabulary only). */
export function modelTokenizer(model: LlamaModel, name: string): TrainingTokenizer {
  const eos = model.tokens.eos;
  if (eos === null) throw new Error(`${name}: the model has no EOS token`);
  return {
    name,
    bos: model.tokens.shouldPrependBosToken ? model.tokens.bos : null,
    eos,
    tokenize: (text) => model.tokenize(text, true),
    tokenizeContinuation: (text) => model.tokenize(text, false, 'trimLeadingSpace'),
  };
}

/**
 * BOS (when wanted), then each chunk tokenized on its own, the first as the start of a text and the
 * others as continuations; `ends[i]` = token count after chunk i.
 */
export function tokenizeChunks(tokenizer: TrainingTokenizer, chunks: readonly string[]): { tokens: number[]; ends: number[] } {
  const tokens = tokenizer.bos === null ? [] : [tokenizer.bos];
  const ends = chunks.map((chunk, index) => {
    tokens.push(...(index === 0 ? tokenizer.tokenize(chunk) : tokenizer.tokenizeContinuation(chunk)));
    return tokens.length;
  });
  return { tokens, ends };
}

/**
 * The single token `label` becomes when it follows `context` (within a sequence):
 * tokenize(context + label) minus tokenize(context). Tokenizing the label alone can differ (a
 * leading-space token, a merge), and the label is only ever read after its context.
 */
export function labelToken(tokenizer: TrainingTokenizer, label: string, context: string): number {
  const contextTokens = tokenizer.tokenizeContinuation(context);
  const withLabel = tokenizer.tokenizeContinuation(context + label);
  const keepsContext = contextTokens.every((token, index) => withLabel[index] === token);
  const labelTokens = withLabel.slice(contextTokens.length);
  const [token] = labelTokens;
  if (!keepsContext || labelTokens.length !== 1 || token === undefined) {
    const got = keepsContext ? `${labelTokens.length} tokens [${labelTokens.join(', ')}]` : 'tokens that merge with the text before it';
    throw new Error(
      `label ${JSON.stringify(label)} is not a single token of ${tokenizer.name} after ${JSON.stringify(context)}: it tokenizes to ${got}`,
    );
  }
  return token;
}
