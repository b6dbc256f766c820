import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { DEFAULT_PRM_FORMAT, layoutPrmText, prmValueFromLogProbs } from '../reward/prm-format.ts';
import { prmLabelTokens, readArbtok, sha256File, tokenizeTrainingJsonl, writeArbtok, type ArbtokExample } from '../train/arbtok.ts';
import { readTrainingJsonl } from '../train/schema.ts';
import { loadTrainingTokenizer, type ModelTrainingTokenizer } from '../train/tokenizer.ts';
import { initModel, prepareTrainingData } from '../train/trainer.ts';
import { ARITHMETIC_ALPHABET } from '../tasks/arithmetic.ts';
import { useTempDir } from './temp-dir.ts';


/** The model's token strings (`tokenizer.ggml.tokens`), read in the suite that builds the model. */
let vocab: readonly string[] = [];
/** The expected token of one character: `arbor-trainer init` writes newline as <0x0A> and space as ▁. */
const tokenOf = (char: string): number => vocab.indexOf(char === '\n' ? '<0x0A>' : char === ' ' ? '\u2581' : char);
const ids = (text: string): number[] => [...text].map(tokenOf);

const tempDir = useTempDir('arbor-train-data-');

async function jsonlFile(name: string, lines: readonly string[]): Promise<string> {
  const file = join(tempDir(), name);
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}

describe('training JSONL schema', () => {
  test('invalid JSON names the file and line', async () => {
    const file = await jsonlFile('bad-json.jsonl', ['{"prompt": "a", "completion": "b"}', '', '{"prompt": "a",']);
    await assert.rejects(readTrainingJsonl(file, 'sft'), (error: Error) => error.message.startsWith(`${file}:3: invalid JSON`));
  });

  test('a missing or mistyped field names the file, line and field', async () => {
    const file = await jsonlFile('missing.jsonl', ['{"prompt": "a", "completion": "b"}', '{"prompt": "a"}']);
    await assert.rejects(readTrainingJsonl(file, 'sft'), {
      message: `${file}:2: "completion": Invalid input: expected string, received undefined`,
    });
    const typed = await jsonlFile('typed.jsonl', ['{"prompt": "a", "completion": 7}']);
    await assert.rejects(readTrainingJsonl(typed, 'sft'), { message: `${typed}:1: "completion": Invalid input: expected string, received number` });
  });

  test('a PRM label outside [0, 1] names the label', async () => {
    const file = await jsonlFile('label.jsonl', ['{"prompt": "p", "completions": ["a", "b"], "labels": [0.5, 1.5]}']);
    await assert.rejects(readTrainingJsonl(file, 'prm'), (error: Error) => error.message.startsWith(`${file}:1: "labels.1": Too big`));
  });

  test('PRM labels and completions must have the same length', async () => {
    const file = await jsonlFile('lengths.jsonl', ['{"prompt": "p", "completions": ["a", "b"], "labels": [1]}']);
    await assert.rejects(readTrainingJsonl(file, 'prm'), { message: `${file}:1: "labels": needs one label per step (as many labels as completions)` });
  });

  test('a weight must be positive', async () => {
    const file = await jsonlFile('weight.jsonl', ['{"text": "abc", "weight": 0}']);
    await assert.rejects(readTrainingJsonl(file, 'lm'), (error: Error) => error.message.startsWith(`${file}:1: "weight": Too small`));
  });

  test('valid rows: empty lines skipped, booleans become 0/1, weight defaults to 1, extra fields kept', async () => {
    const file = await jsonlFile('ok.jsonl', [
      '',
      '{"prompt": "p", "completions": ["a", "b", "c"], "labels": [true, false, 0.25], "id": "row-1"}',
      '   ',
      '{"prompt": "q", "completions": ["d"], "labels": [1], "weight": 2}',
    ]);
    const rows = await readTrainingJsonl(file, 'prm');
    assert.deepEqual(rows, [
      { line: 2, row: { prompt: 'p', completions: ['a', 'b', 'c'], labels: [1, 0, 0.25], weight: 1, id: 'row-1' } },
      { line: 4, row: { prompt: 'q', completions: ['d'], labels: [1], weight: 2 } },
    ]);
  });
});

describe('PRM format', () => {
  test('layout: prompt, then each step followed by its separator, marked at the separator', () => {
    assert.deepEqual(layoutPrmText('Q:1+2*3\n', ['2*3=6', '1+6=7']), {
      chunks: ['Q:1+2*3\n', '2*3=6', '\n', '1+6=7', '\n'],
      markedChunks: [2, 4],
    });
    assert.deepEqual(DEFAULT_PRM_FORMAT, { separator: '\n', goodLabel: '+', badLabel: '-' });
  });

  test('value = P(good) / (P(good) + P(bad))', () => {
    assert.ok(Math.abs(prmValueFromLogProbs(Math.log(0.3), Math.log(0.1)) - 0.75) < 1e-12);
    assert.equal(prmValueFromLogProbs(-2000, -1000), 0);
  });
});

describe('.arbtok examples with a character vocabulary', () => {
  let model: string;
  let tokenizer: ModelTrainingTokenizer;
  const contextLength = 256;
  let [BOS, EOS] = [-1, -1];

  before(async () => {
    const vocabFile = join(tempDir(), 'vocab.txt');
    await writeFile(vocabFile, ARITHMETIC_ALPHABET);
    model = join(tempDir(), 'tiny.gguf');
    await initModel({ vocabChars: vocabFile, out: model, dim: 32, layers: 1, heads: 2, ctx: contextLength });
    tokenizer = await loadTrainingTokenizer(model);
    vocab = (await readGgufFileInfo(model, { readTensorInfo: false })).metadata.tokenizer?.ggml.tokens ?? [];
    [BOS, EOS] = [vocab.indexOf('<s>'), vocab.indexOf('</s>')];
    assert.ok(ids(ARITHMETIC_ALPHABET).every((token) => token > EOS), 'every character has its own token');
  });
  after(async () => {
    await tokenizer.dispose();
  });

  async function roundTrip(name: string, objective: 'sft' | 'prm' | 'lm', lines: readonly string[]): Promise<ArbtokExample[]> {
    const jsonl = await jsonlFile(`${name}.jsonl`, lines);
    const examples = await tokenizeTrainingJsonl(jsonl, objective, tokenizer, { contextLength });
    const arbtok = join(tempDir(), `${name}.arbtok`);
    await writeArbtok(arbtok, examples.flatMap((example) => example.records));
    return readArbtok(arbtok);
  }

  test('the tokenizer reads the model: BOS first, EOS, one token per character (continuations too), the context length', () => {
    assert.equal(tokenizer.bos, BOS);
    assert.equal(tokenizer.eos, EOS);
    assert.equal(tokenizer.contextLength, contextLength);
    assert.deepEqual(tokenizer.tokenize('Q: (1+2)*3\nA: 9'), ids('Q: (1+2)*3\nA: 9'));
    assert.deepEqual(tokenizer.tokenizeContinuation(' 9\n'), ids(' 9\n'));
  });

  test('sft: targets on the completion tokens and EOS only, weighted by the row', async () => {
    const [example, second] = await roundTrip('sft', 'sft', [
      '{"prompt": "Q:2+3\\nA:", "completion": " 5", "weight": 0.5}',
      '{"prompt": "", "completion": "7"}',
    ]);
    const prompt = ids('Q:2+3\nA:');
    assert.deepEqual(example?.tokens, [BOS, ...prompt, ...ids(' 5'), EOS]);
    // position p predicts token p+1: the last prompt token predicts ' ', then '5', then EOS
    const firstTarget = prompt.length; // index of the last prompt token (BOS is at 0)
    assert.deepEqual(example?.targets, [
      { pos: firstTarget, token: tokenOf(' '), weight: 0.5 },
      { pos: firstTarget + 1, token: tokenOf('5'), weight: 0.5 },
      { pos: firstTarget + 2, token: EOS, weight: 0.5 },
    ]);
    // an empty prompt: BOS alone predicts the first completion token
    assert.deepEqual(second, {
      tokens: [BOS, tokenOf('7'), EOS],
      targets: [
        { pos: 0, token: tokenOf('7'), weight: 1 },
        { pos: 1, token: EOS, weight: 1 },
      ],
    });
  });

  test('prm: v on "+" and 1 - v on "-" right after each step separator', async () => {
    // the vocabulary has no '=': steps are written "2*3:6"
    const [example] = await roundTrip('prm', 'prm', ['{"prompt": "Q:1+2*3\\n", "completions": ["2*3:6", "1+6:7"], "labels": [true, 0.25], "weight": 2}']);
    const tokens = [BOS, ...ids('Q:1+2*3\n'), ...ids('2*3:6'), ...ids('\n'), ...ids('1+6:7'), ...ids('\n')];
    assert.deepEqual(example?.tokens, tokens);
    const firstSeparator = 1 + 8 + 5;
    const secondSeparator = firstSeparator + 1 + 5;
    const [good, bad] = [tokenOf('+'), tokenOf('-')];
    assert.equal(example?.tokens[firstSeparator], tokenOf('\n'));
    assert.equal(example?.tokens[secondSeparator], tokenOf('\n'));
    assert.deepEqual(example?.targets, [
      { pos: firstSeparator, token: good, weight: 2 },
      { pos: firstSeparator, token: bad, weight: 0 },
      { pos: secondSeparator, token: good, weight: 0.5 },
      { pos: secondSeparator, token: bad, weight: 1.5 },
    ]);
  });

  test('lm: BOS + text + EOS, every next token a target', async () => {
    const [example] = await roundTrip('lm', 'lm', ['{"text": "1+1:2"}']);
    const tokens = [BOS, ...ids('1+1:2'), EOS];
    assert.deepEqual(example, {
      tokens,
      targets: tokens.slice(1).map((token, index) => ({ pos: index, token, weight: 1 })),
    });
  });

  test('a sequence longer than the context names the file, line, token count and context', async () => {
    const jsonl = await jsonlFile('long.jsonl', ['{"text": "1"}', `{"text": "${'1'.repeat(300)}"}`]);
    await assert.rejects(tokenizeTrainingJsonl(jsonl, 'lm', tokenizer, { contextLength }), {
      message: `${jsonl}:2: the sequence is 302 tokens, longer than the model's context of 256`,
    });
  });

  test('a PRM label that is not a single token is an error naming the label and the model', () => {
    assert.throws(() => prmLabelTokens(tokenizer, { ...DEFAULT_PRM_FORMAT, goodLabel: '++' }), {
      message: `label "++" is not a single token of ${model} after "\\n": it tokenizes to 2 tokens [${tokenOf('+')}, ${tokenOf('+')}]`,
    });
    assert.deepEqual(prmLabelTokens(tokenizer), { good: tokenOf('+'), bad: tokenOf('-') });
  });

  test('readArbtok rejects a file that is not .arbtok', async () => {
    const file = join(tempDir(), 'garbage.arbtok');
    await writeFile(file, 'not an arbtok file');
    await assert.rejects(readArbtok(file), { message: `${file}: not a valid .arbtok file: missing the ARBTOK01 header` });
  });

  test('prepareTrainingData: a seeded validation split, sizes and the data hash', async () => {
    const lines = Array.from({ length: 20 }, (_, index) => JSON.stringify({ prompt: `Q:${index}\nA:`, completion: String(index), id: index }));
    const data = await jsonlFile('split.jsonl', lines);
    const prepare = (outDir: string): ReturnType<typeof prepareTrainingData> =>
      prepareTrainingData({ model, objective: 'sft', data, valFraction: 0.25, seed: 7, outDir: join(tempDir(), outDir) });
    const prepared = await prepare('split-a');
    assert.equal(prepared.train.examples, 15);
    assert.equal(prepared.val?.examples, 5);
    assert.equal(prepared.dataSha256, await sha256File(data));
    assert.match(prepared.dataSha256, /^[0-9a-f]{64}$/);
    const train = await readArbtok(prepared.train.path);
    const val = await readArbtok(prepared.val?.path ?? '');
    assert.equal(prepared.train.tokens, train.reduce((sum, example) => sum + example.tokens.length, 0));
    assert.equal(prepared.train.targets, train.reduce((sum, example) => sum + example.targets.length, 0));
    const again = await prepare('split-b');
    assert.deepEqual(await readArbtok(again.val?.path ?? ''), val);
  });
});
