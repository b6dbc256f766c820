/**
 * The sequences of a model's contexts (engine/llama.ts `createContexts`), handed out by the longest
 * cached common prefix: one at a time, or as a group of one context that continues a shared prefix
 * evaluated once — llama.cpp copies the prefix's KV cells to the group's other sequences, so the
 * candidates of one expansion (or the children a PRM scores) decode side by side in one batch.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp';

/** Positions `sequence` at `tokens` and returns what must still be fed (never empty, so logits come out). */
export async function alignSequence(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<Token[]> {
  if (tokens.length === 0) throw new Error('cannot evaluate an empty prefix');
  await sequence.adaptStateToTokens(tokens.slice(), false);
  if (sequence.nextTokenIndex >= tokens.length) {
    await sequence.eraseContextTokenRanges([{ start: tokens.length - 1, end: sequence.nextTokenIndex }]);
  }
  return tokens.slice(sequence.nextTokenIndex);
}

/** Makes `sequence` hold exactly `tokens` (no logits needed); returns how many tokens it evaluated. */
async function evaluatePrefix(sequence: LlamaContextSequence, tokens: readonly Token[]): Promise<number> {
  await sequence.adaptStateToTokens(tokens.slice(), false);
  const missing = tokens.slice(sequence.nextTokenIndex);
  if (missing.length > 0) await sequence.evaluateWithoutGeneratingNewTokens(missing);
  return missing.length;
}

type CopyingSequence = LlamaContextSequence & { _copyStateFromOtherSequence?: (source: LlamaContextSequence, upToTokenIndex: number) => Promise<boolean> };

/**
 * Makes `target` hold the first `length` tokens `source` holds by copying their KV cells
 * (llama_memory_seq_cp). node-llama-cpp 3.22 has the copy only as an internal method (its own
 * LlamaDecisionContext uses it): when it is missing or fails, `target` is cleared and false returned,
 * and the caller evaluates the prefix instead.
 */
async function copyPrefix(target: LlamaContextSequence, source: LlamaContextSequence, length: number): Promise<boolean> {
  const copy = (target as CopyingSequence)._copyStateFromOtherSequence;
  if (typeof copy !== 'function') return false;
  let copied = false;
  try {
    copied = (await copy.call(target, source, length)) && target.nextTokenIndex === length;
  } catch {
    copied = false;
  }
  if (!copied) await target.clearHistory();
  return copied;
}

/** How long a released sequence stays its last user's (not lent to another request's group) [ms]. */
const SPARE_AFTER_MS = 100;

export class SequencePool {
  private readonly free: LlamaContextSequence[];
  private readonly waiting: (() => void)[] = [];
  private readonly releasedAt = new Map<LlamaContextSequence, number>();

  constructor(sequences: readonly LlamaContextSequence[]) {
    this.free = sequences.slice();
  }

  /**
   * Up to `count` free sequences of one context (waiting for one): the one caching most of `prefix`,
   * then, only when they are spare, others of its context — ones that cache all of `prefix`, or ones
   * idle for SPARE_AFTER_MS (a search that released one moments ago is about to come back to it).
   */
  private async acquire(prefix: readonly Token[], count: number): Promise<{ group: LlamaContextSequence[]; cached: number[] }> {
    while (this.free.length === 0) await new Promise<void>((wake) => this.waiting.push(wake));
    const shared = new Map(this.free.map((sequence) => [sequence, sequence.compareContextTokens(prefix.slice()).firstDifferentIndex]));
    let leader = this.free[0] as LlamaContextSequence;
    for (const sequence of this.free) if ((shared.get(sequence) ?? 0) > (shared.get(leader) ?? 0)) leader = sequence;
    const now = performance.now();
    const spare = (sequence: LlamaContextSequence): boolean =>
      (shared.get(sequence) ?? 0) >= prefix.length || now - (this.releasedAt.get(sequence) ?? -Infinity) >= SPARE_AFTER_MS;
    const followers = this.free.filter((sequence) => sequence !== leader && sequence.context === leader.context && spare(sequence));
    const group = [leader, ...followers].slice(0, Math.max(1, count));
    for (const sequence of group) this.free.splice(this.free.indexOf(sequence), 1);
    return { group, cached: group.map((sequence) => shared.get(sequence) ?? 0) };
  }

  private release(group: readonly LlamaContextSequence[]): void {
    const now = performance.now();
    for (const sequence of group) this.releasedAt.set(sequence, now);
    this.free.push(...group);
    for (let index = 0; index < group.length; index++) this.waiting.shift()?.();
  }

  /** `work` on the free sequence that caches most of `prefix`. */
  async with<T>(prefix: readonly Token[], work: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> {
    return this.withShared(prefix, 1, ([sequence]) => work(sequence as LlamaContextSequence));
  }

  /**
   * `work` on up to `count` sequences of one context (at least one), each holding `shared` when
   * there are several: evaluated once on the first, copied to the others. `evaluated` counts the
   * tokens evaluated here (a lone sequence is left for the work to align).
   */
  async withShared<T>(shared: readonly Token[], count: number, work: (sequences: LlamaContextSequence[], evaluated: number) => Promise<T>): Promise<T> {
    const { group, cached } = await this.acquire(shared, count);
    try {
      let evaluated = 0;
      const [leader, ...others] = group;
      if (leader !== undefined && others.length > 0 && shared.length > 0) {
        evaluated += await evaluatePrefix(leader, shared);
        const copies = await Promise.all(
          others.map(async (other, index) => ((cached[index + 1] ?? 0) >= shared.length || (await copyPrefix(other, leader, shared.length)) ? 0 : evaluatePrefix(other, shared))),
        );
        evaluated += copies.reduce((a, b) => a + b, 0);
      }
      return await work(group, evaluated);
    } finally {
      this.release(group);
    }
  }
}
