/**
 * Step generation over node-llama-cpp: N parallel sequences spread over the engine's decoders (one
 * context each, engine/llama.ts `createContexts`); each request samples candidate next steps for a
 * token prefix, stopping at the step delimiter. A request's candidates decode side by side on
 * sequences of one context that share the prefix, evaluated once (engine/sequence-pool.ts); the
 * sequences keep what they generated, so expanding a candidate later reuses its cached tokens.
 * Concurrent requests (other problems, other branches) run on the other sequences and are batched
 * together by node-llama-cpp.
 */
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { z } from 'zod';
import type { EngineSettings } from '../workflows/config.ts';
import { createContexts, interleavedSequences } from './llama.ts';
import { alignSequence, SequencePool } from './sequence-pool.ts';

export const samplingSchema = z.strictObject({
  temperature: z.number().nonnegative().default(0.7),
  topP: z.number().gt(0).max(1).default(1),
  topK: z.number().int().nonnegative().optional(),
  /** Repeat penalty (1.1 is llama.cpp's usual); off unless asked, because it distorts arithmetic. */
  repeatPenalty: z.number().min(1).optional(),
  /** Tokens per step at most (the reference uses 256). */
  maxStepTokens: z.number().int().positive().default(256),
});
export type Sampling = z.output<typeof samplingSchema>;

/** Tokens a repeat penalty looks back over (llama.cpp's usual last-64). */
const REPEAT_PENALTY_WINDOW = 64;

export interface GeneratedStep {
  /** Step text up to (without) the delimiter. */
  text: string;
  generatedTokens: number;
  /** Tokens this candidate made the model evaluate (prefix tokens not already cached + generated ones fed back). */
  evaluatedTokens: number;
  /** Why generation stopped. */
  stop: 'delimiter' | 'eos' | 'max-tokens';
}

export interface TokenCounts {
  evaluated: number;
  generated: number;
}

export interface StepGeneratorOptions {
  /** A model reference: a full GGUF or a LoRA adapter on one (engine/model-files.ts). */
  modelPath: string;
  threads: number;
  /** Parallel sequences in the context. */
  sequences: number;
  /** Tokens per sequence (prompt + solution). */
  contextSize: number;
  delimiter: string;
  engine?: EngineSettings;
}

export class StepGenerator {
  /** Totals over the generator's life; callers diff them around a search. */
  readonly counts: TokenCounts = { evaluated: 0, generated: 0 };

  private constructor(
    readonly model: LlamaModel,
    private readonly contexts: LlamaContext[],
    private readonly pool: SequencePool,
    private readonly delimiter: string,
  ) {}

  static async create(options: StepGeneratorOptions): Promise<StepGenerator> {
    const contexts = await createContexts(options.modelPath, options);
    return new StepGenerator((contexts[0] as LlamaContext).model, contexts, new SequencePool(interleavedSequences(contexts)), options.delimiter);
  }

  /**
   * `count` candidate next steps after `prefix`, candidate i with seed `seed + i`: side by side on
   * sequences of one context that share the prefix (evaluated once), one after the other when
   * fewer are free. `greedy` decodes the argmax (then `count` should be 1).
   */
  generateSteps(prefix: readonly Token[], count: number, options: { sampling: Sampling; seed: number; greedy?: boolean }): Promise<GeneratedStep[]> {
    // Every candidate feeds the prefix's last token itself: its logits are where sampling starts.
    return this.pool.withShared(prefix.slice(0, -1), count, async (sequences, evaluated) => {
      this.counts.evaluated += evaluated;
      const steps = new Array<GeneratedStep>(count);
      await Promise.all(
        sequences.map(async (sequence, lane) => {
          for (let index = lane; index < count; index += sequences.length) steps[index] = await this.sampleOne(sequence, prefix, options.sampling, options.seed + index, options.greedy === true);
        }),
      );
      return steps;
    });
  }

  private async sampleOne(sequence: LlamaContextSequence, prefix: readonly Token[], sampling: Sampling, seed: number, greedy: boolean): Promise<GeneratedStep> {
    const feed = await alignSequence(sequence, prefix);
    // Every token that enters the sequence's context was evaluated once (the last sampled one, cut off at the delimiter, was not).
    const cachedBefore = sequence.nextTokenIndex;
    const generated: Token[] = [];
    let text = '';
    let stop: GeneratedStep['stop'] = 'eos';
    const evaluation = sequence.evaluate(feed, {
      temperature: greedy ? 0 : sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      seed,
      ...(sampling.repeatPenalty === undefined
        ? {}
        : { repeatPenalty: { penalty: sampling.repeatPenalty, punishTokens: () => [...prefix, ...generated].slice(-REPEAT_PENALTY_WINDOW) } }),
    });
    for await (const token of evaluation) {
      generated.push(token);
      text = this.model.detokenize(generated);
      const end = text.indexOf(this.delimiter);
      if (end >= 0) {
        text = text.slice(0, end);
        stop = 'delimiter';
        break;
      }
      if (generated.length >= sampling.maxStepTokens) {
        stop = 'max-tokens';
        break;
      }
    }
    const evaluatedTokens = sequence.nextTokenIndex - cachedBefore;
    this.counts.evaluated += evaluatedTokens;
    this.counts.generated += generated.length;
    return { text, generatedTokens: generated.length, evaluatedTokens, stop };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.dispose()));
  }
}
