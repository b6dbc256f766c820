/**
 * How a question and the steps so far become the tokens a policy continues: plain text (few-shot
 * or bare, as the micro model needs) or the model's own chat template through node-llama-cpp's
 * chat wrappers, so an instruct GGUF works with no code change.
 */
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from 'node-llama-cpp';
import { z } from 'zod';

export const promptStyleSchema = z.discriminatedUnion('style', [
  z.strictObject({
    style: z.literal('plain'),
    /** Text before the question (few-shot examples, instructions); may be empty. */
    preamble: z.string().default(''),
    /** Template with `{question}`; the micro model's is "Q: {question}\n". */
    template: z.string().includes('{question}').default('Q: {question}\n'),
  }),
  z.strictObject({
    style: z.literal('chat'),
    system: z.string().optional(),
    /** Template of the user turn with `{question}`. */
    template: z.string().includes('{question}').default('{question}\nSolve it step by step, one step per line, and end with "#### <answer>".'),
  }),
]);
export type PromptStyle = z.output<typeof promptStyleSchema>;

export interface PromptBuilder {
  /** Tokens of the question followed by `steps`, each closed by the delimiter: the policy continues from here. */
  tokens(question: string, steps: readonly string[]): Token[];
}

export function createPromptBuilder(model: LlamaModel, style: PromptStyle, delimiter: string): PromptBuilder {
  const stepsText = (steps: readonly string[]): string => steps.map((step) => step + delimiter).join('');
  if (style.style === 'plain') {
    const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
    return {
      tokens: (question, steps) => [
        ...(bos === null ? [] : [bos]),
        ...model.tokenize(style.preamble + style.template.replaceAll('{question}', question), false),
        ...(steps.length === 0 ? [] : model.tokenize(stepsText(steps), false, 'trimLeadingSpace')),
      ],
    };
  }
  const wrapper = resolveChatWrapper(model);
  return {
    tokens: (question, steps) => {
      const history: ChatHistoryItem[] = [
        ...(style.system === undefined ? [] : [{ type: 'system' as const, text: style.system }]),
        { type: 'user', text: style.template.replaceAll('{question}', question) },
        // The open model turn: the wrapper leaves the last response unterminated, so generation continues it.
        { type: 'model', response: [stepsText(steps)] },
      ];
      return wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
    },
  };
}
