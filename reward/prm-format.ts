/**
 * The prompt format of the process reward model (PRM): one definition shared by the trainer's `prm`
 * objective and the PRM scorer, so that what is trained is exactly what is read. Pure: no I/O.
 *
 * A solution of steps s_1 … s_n to a prompt p is laid out as the chunks
 *
 *     p, s_1, SEP, s_2, SEP, …, s_n, SEP
 *
 * (SEP = the separator, "\n" by default). Each chunk is tokenized on its own (p as the start of a
 * text, the others as continuations: no leading-space token added) and the tokens are concatenated
 * after BOS when the model wants one. Tokenizing chunk by chunk keeps the separator's tokens
 * identical whatever the step text is, and makes "the position right after step k's separator"
 * unambiguous: it is the last token of the k-th SEP chunk.
 *
 * The PRM's value of the prefix p s_1 … s_k is read from the next-token distribution at that
 * position, restricted to the two label tokens:
 *
 *     value_k = P(good) / (P(good) + P(bad))
 *
 * with good label "+" and bad label "-" by default. A label must be a single token when it follows
 * the separator: its token is derived as tokenize(SEP + label) minus tokenize(SEP)
 * (see `labelTokenContext`), because on SPM vocabularies a label tokenized alone may carry a
 * leading-space token. Training (`prm` objective) puts weight v on the good token and 1 − v on the
 * bad one at each marked position, whose minimum is at value_k = v.
 */
import { z } from 'zod';

export const DEFAULT_PRM_SEPARATOR = '\n';
export const DEFAULT_PRM_GOOD_LABEL = '+';
export const DEFAULT_PRM_BAD_LABEL = '-';

/** The separator and the two label strings of a PRM; validated wherever a format enters (options, model metadata). */
export const prmFormatSchema = z
  .object({
    separator: z.string().min(1).default(DEFAULT_PRM_SEPARATOR),
    goodLabel: z.string().min(1).default(DEFAULT_PRM_GOOD_LABEL),
    badLabel: z.string().min(1).default(DEFAULT_PRM_BAD_LABEL),
  })
  .refine((format) => format.goodLabel !== format.badLabel, {
    message: 'the good and bad labels must differ',
    path: ['badLabel'],
  });

export type PrmFormat = z.infer<typeof prmFormatSchema>;

export const DEFAULT_PRM_FORMAT: PrmFormat = Object.freeze(prmFormatSchema.parse({}));

/** A prompt and its steps laid out as chunks to tokenize one by one. */
export interface PrmLayout {
  /** p, s_1, SEP, s_2, SEP, …: tokenize each on its own and concatenate. */
  chunks: string[];
  /**
   * markedChunks[k] = the index in `chunks` of step k+1's separator: the PRM's value of the prefix
   * ending with step k+1 is read at the last token of that chunk.
   */
  markedChunks: number[];
}

export function layoutPrmText(prompt: string, steps: readonly string[], format: PrmFormat = DEFAULT_PRM_FORMAT): PrmLayout {
  const chunks = [prompt];
  const markedChunks: number[] = [];
  for (const step of steps) {
    chunks.push(step, format.separator);
    markedChunks.push(chunks.length - 1);
  }
  return { chunks, markedChunks };
}

/** The text a label follows in the layout; a label's token is tokenize(context + label) minus tokenize(context). */
export function labelTokenContext(format: PrmFormat = DEFAULT_PRM_FORMAT): string {
  return format.separator;
}

/** value = P(good) / (P(good) + P(bad)), from the two labels' log-probabilities (stable for very small probabilities). */
export function prmValueFromLogProbs(goodLogProb: number, badLogProb: number): number {
  return 1 / (1 + Math.exp(badLogProb - goodLogProb));
}
