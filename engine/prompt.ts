/**
 * How a question and the steps so far become the tokens a policy continues: the task's plain
 * template (with its preamble) or the model's own chat template through node-llama-cpp's chat
 * wrappers, so an instruct GGUF works with no code change. The one place a prompt is built.
 */
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from 'node-llama-cpp';
import { fillTemplate, type TaskPrompt } from '../tasks/task.ts';

export interface PromptBuilder {
  /** Whether the model's chat template is used. */
  readonly chat: boolean;
  /** Tokens of the question followed by `steps`, each closed by the delimiter: the policy continues from here. */
  tokens(question: string, steps: readonly string[]): Token[];
  /**
   * The prompt as text for training rows, special tokens written out (BOS excluded: the trainer adds
   * it): the trainer reads a prompt's special tokens back, so it trains on the tokens generation sees.
   */
  text(question: string): string;
}

/** Whether the model carries a chat template (what `auto` looks for). */
export function hasChatTemplate(model: LlamaModel): boolean {
  return typeof model.fileInfo.metadata.tokenizer?.chat_template === 'string';
}

export function createPromptBuilder(model: LlamaModel, prompt: TaskPrompt, delimiter: string): PromptBuilder {
  const stepsText = (steps: readonly string[]): string => steps.map((step) => step + delimiter).join('');
  const bos = model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
  const withoutBos = (tokens: Token[]): Token[] => (bos !== null && tokens[0] === bos ? tokens.slice(1) : tokens);
  const chat = prompt.style === 'chat' || (prompt.style === 'auto' && hasChatTemplate(model));
  let tokens: PromptBuilder['tokens'];
  if (!chat) {
    tokens = (question, steps) => [
      ...(bos === null ? [] : [bos]),
      ...model.tokenize(prompt.preamble + fillTemplate(prompt.plain, question), false),
      ...(steps.length === 0 ? [] : model.tokenize(stepsText(steps), false, 'trimLeadingSpace')),
    ];
  } else {
    // node-llama-cpp matches Qwen templates with thoughts "discourage" (Qwen3's template writes an empty
    // think block before the answer) but hands out "auto": ask for what the template renders.
    const wrapper = resolveChatWrapper(model, { customWrapperSettings: { qwen: { thoughts: 'discourage' } } });
    tokens = (question, steps) => {
      const history: ChatHistoryItem[] = [
        ...(prompt.system === undefined ? [] : [{ type: 'system' as const, text: prompt.system }]),
        { type: 'user', text: fillTemplate(prompt.chat, question) },
        // The open model turn: the wrapper leaves the last response unterminated, so generation continues it.
        { type: 'model', response: [stepsText(steps)] },
      ];
      return wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
    };
  }
  return { chat, tokens, text: (question) => model.detokenize(withoutBos(tokens(question, [])), true) };
}

/**
 * The task's plain template without preamble: what the PRM reads whatever the policy's style (a
 * PRM is trained on text), and what a base model is pretrained on (train/micro-model.ts).
 */
export function plainPrompt(prompt: TaskPrompt, question: string): string {
  return fillTemplate(prompt.plain, question);
}
