/**
 * Log-probabilities read from node-llama-cpp: of label tokens after a text (PRM values,
 * self-evaluation) and of a given continuation. Uses `controlledEvaluate` with a logits filter and
 * `includeTop: 1` (the `includeMax` option is broken in 3.22.1), so
 * log P(t) = logit(t) − maxLogit − ln(totalLogitWeight).
 */
import type { ControlledEvaluateInputItem, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { LabelLogProbs } from '../reward/value-functions.ts';
import type { EngineSettings } from '../workflows/config.ts';
import { labelToken, modelTokenizer, tokenizeChunks, type TrainingTokenizer } from '../train/tokenizer.ts';
import { createContexts, interleavedSequences } from './llama.ts';
import { alignSequence, SequencePool } from './sequence-pool.ts';
import type { TokenCounts } from './step-generator.ts';

function logProbsFromOutput(next: { logits?: Map<Token, number>; totalLogitWeight?: number } | undefined, tokens: readonly Token[]): number[] {
  const logits = next?.logits;
  const total = next?.totalLogitWeight;
  if (logits === undefined || total === undefined) throw new Error('llama.cpp returned no logits for a scored position');
  const maxLogit = Math.max(...logits.values());
  return tokens.map((token) => {
    const logit = logits.get(token);
    return logit === undefined ? -Infinity : logit - maxLogit - Math.log(total);
  });
}

/** The longest prefix all `lists` share, leaving each at least one token of its own (its logits are read there). */
function commonPrefix(lists: readonly (readonly Token[])[]): Token[] {
  const [first] = lists;
  if (first === undefined) return [];
  const limit = Math.max(0, Math.min(...lists.map((list) => list.length - 1)));
  let length = 0;
  while (length < limit && lists.every((list) => list[length] === first[length])) length += 1;
  return first.slice(0, length);
}

export class LogProbScorer implements LabelLogProbs {
  readonly counts: TokenCounts = { evaluated: 0, generated: 0 };

  /** The same tokenization and label-token derivation the trainer uses (train/tokenizer.ts). */
  readonly tokenizer: TrainingTokenizer;
  /** Label tokens by context and label: every scored prefix asks again, with the same separator. */
  private readonly labelTokens = new Map<string, Token>();

  private constructor(
    readonly model: LlamaModel,
    private readonly contexts: LlamaContext[],
    private readonly pool: SequencePool,
  ) {
    this.tokenizer = modelTokenizer(model, model.filename ?? 'PRM model');
  }

  static async create(options: { modelPath: string; threads: number; sequences: number; contextSize: number; engine?: EngineSettings }): Promise<LogProbScorer> {
    const contexts = await createContexts(options.modelPath, options);
    return new LogProbScorer((contexts[0] as LlamaContext).model, contexts, new SequencePool(interleavedSequences(contexts)));
  }

  /** Log-probabilities of `candidates` as the token right after `tokens`. */
  nextTokenLogProbs(tokens: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
    return this.pool.with(tokens, (sequence) => this.logProbsOn(sequence, tokens, candidates));
  }

  private async logProbsOn(sequence: LlamaContextSequence, tokens: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
    const feed = await alignSequence(sequence, tokens);
    const cachedBefore = sequence.nextTokenIndex;
    const input: ControlledEvaluateInputItem[] = feed.map((token, index) =>
      index < feed.length - 1 ? token : [token, { generateNext: { logits: { filter: { tokens: candidates, includeTop: 1 } }, totalLogitWeight: true } }],
    );
    const output = await sequence.controlledEvaluate(input);
    this.counts.evaluated += sequence.nextTokenIndex - cachedBefore;
    return logProbsFromOutput(output[feed.length - 1]?.next, candidates);
  }

  private labelTokenAfter(label: string, context: string): Token {
    const key = `${context}\u0000${label}`;
    let token = this.labelTokens.get(key);
    if (token === undefined) {
      token = labelToken(this.tokenizer, label, context) as Token;
      this.labelTokens.set(key, token);
    }
    return token;
  }

  /** The texts (siblings, as a search scores them) share their common prefix: evaluated once, their ends scored side by side. */
  async labelLogProbs(texts: readonly (readonly string[])[], labels: readonly string[]): Promise<number[][]> {
    const items = texts.map((chunks) => ({
      tokens: tokenizeChunks(this.tokenizer, chunks).tokens as Token[],
      labels: labels.map((label) => this.labelTokenAfter(label, chunks.at(-1) ?? '\n')),
    }));
    const shared = commonPrefix(items.map((item) => item.tokens));
    const results = new Array<number[]>(items.length);
    await this.pool.withShared(shared, items.length, async (sequences, evaluated) => {
      this.counts.evaluated += evaluated;
      await Promise.all(
        sequences.map(async (sequence, lane) => {
          for (let index = lane; index < items.length; index += sequences.length) {
            const item = items[index] as (typeof items)[number];
            results[index] = await this.logProbsOn(sequence, item.tokens, item.labels);
          }
        }),
      );
    });
    return results;
  }

  /** Sum of log P over the tokens of `continuation` after `prefix` (teacher forcing). */
  async continuationLogProb(prefix: readonly Token[], continuation: readonly Token[]): Promise<number> {
    if (continuation.length === 0) return 0;
    const all = [...prefix, ...continuation];
    return this.pool.with(all, async (sequence) => {
      await sequence.adaptStateToTokens(prefix.slice(0, -1), false);
      const start = sequence.nextTokenIndex;
      const feed = all.slice(start, -1);
      const input: ControlledEvaluateInputItem[] = feed.map((token, index) => {
        const position = start + index;
        const target = all[position + 1];
        if (position < prefix.length - 1 || target === undefined) return token;
        return [token, { generateNext: { logits: { filter: { tokens: [target], includeTop: 1 } }, totalLogitWeight: true } }];
      });
      const output = await sequence.controlledEvaluate(input);
      this.counts.evaluated += sequence.nextTokenIndex - start;
      let sum = 0;
      feed.forEach((_, index) => {
        const position = start + index;
        const target = all[position + 1];
        if (position >= prefix.length - 1 && target !== undefined) sum += logProbsFromOutput(output[index]?.next, [target])[0] ?? -Infinity;
      });
      return sum;
    });
  }

  async dispose(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.dispose()));
  }
}
