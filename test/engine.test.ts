import assert from 'node:assert/strict';
import type { Token } from 'node-llama-cpp';
import { after, before, describe, test } from 'node:test';
import { createContexts, interleavedSequences } from '../engine/llama.ts';
import { LogProbScorer } from '../engine/log-probs.ts';
import { SequencePool } from '../engine/sequence-pool.ts';
import { enginePolicy } from '../engine/policy.ts';
import { createPromptBuilder } from '../engine/prompt.ts';
import { samplingSchema, StepGenerator } from '../engine/step-generator.ts';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { STEP_DELIMITER } from '../tasks/arithmetic.ts';
import { loadTask } from '../tasks/index.ts';
import { labelToken, tokenizeChunks } from '../train/tokenizer.ts';

const ARITHMETIC = loadTask({ kind: 'arithmetic' });

describe('inference engine (committed micro model)', () => {
  let generator: StepGenerator;
  let scorer: LogProbScorer;
  before(async () => {
    generator = await StepGenerator.create({ modelPath: COMMITTED_MICRO_MODEL, threads: 1, sequences: 3, contextSize: 256, delimiter: STEP_DELIMITER });
    scorer = await LogProbScorer.create({ modelPath: COMMITTED_MICRO_MODEL, threads: 1, sequences: 2, contextSize: 256 });
  });
  after(async () => {
    await generator.dispose();
    await scorer.dispose();
  });
  const prompt = () => createPromptBuilder(generator.model, ARITHMETIC.prompt, STEP_DELIMITER);
  const sampling = samplingSchema.parse({ temperature: 1, maxStepTokens: 24 });

  test('steps stop at the delimiter and never contain it', async () => {
    const steps = await generator.generateSteps(prompt().tokens('7+5*3-4', []), 4, { sampling, seed: 1 });
    assert.equal(steps.length, 4);
    for (const step of steps) {
      assert.ok(!step.text.includes('\n'), JSON.stringify(step.text));
      assert.ok(step.stop === 'delimiter' || step.stop === 'eos', step.stop);
      assert.ok(step.generatedTokens >= step.text.length, 'a character vocabulary gives at least one token per character');
    }
  });

  test('a max-token cap ends a step early', async () => {
    const tokens = prompt().tokens('7+5*3', []);
    const [full] = await generator.generateSteps(tokens, 1, { sampling, seed: 1, greedy: true });
    assert.ok((full?.generatedTokens ?? 0) > 2, `the greedy first step ${JSON.stringify(full)} is longer than the cap`);
    const [step] = await generator.generateSteps(tokens, 1, { sampling: { ...sampling, maxStepTokens: 2 }, seed: 1, greedy: true });
    assert.equal(step?.stop, 'max-tokens');
    assert.equal(step?.generatedTokens, 2);
  });

  test('prefix reuse shows in the token accounting: later candidates evaluate only what they generate', async () => {
    const tokens = prompt().tokens('9-2*4+6', ['9-8+6']);
    const steps = await generator.generateSteps(tokens, 3, { sampling, seed: 5 });
    // The first candidate may have to evaluate the prefix; the others re-evaluate one prefix token at most.
    for (const step of steps.slice(1)) assert.ok(step.evaluatedTokens <= step.generatedTokens + 1, JSON.stringify(step));
    const again = await generator.generateSteps(tokens, 1, { sampling, seed: 9 });
    assert.ok((again[0]?.evaluatedTokens ?? 99) <= (again[0]?.generatedTokens ?? 0) + 1, 'the same prefix goes back to the sequence that holds it');
  });

  test('parallel requests run on separate sequences and all complete', async () => {
    const before = { ...generator.counts };
    const questions = ['1+2', '3*4-5', '6-7+8', '9*2+1', '4+4*4'];
    const results = await Promise.all(questions.map((q, i) => generator.generateSteps(prompt().tokens(q, []), 2, { sampling, seed: i })));
    assert.equal(results.flat().length, 10);
    const generated = results.flat().reduce((sum, step) => sum + step.generatedTokens, 0);
    assert.equal(generator.counts.generated - before.generated, generated);
  });

  test('greedy is deterministic and seeds make sampling reproducible', async () => {
    const tokens = prompt().tokens('8-3*2', []);
    const a = await generator.generateSteps(tokens, 1, { sampling, seed: 3, greedy: true });
    const b = await generator.generateSteps(tokens, 1, { sampling, seed: 99, greedy: true });
    assert.equal(a[0]?.text, b[0]?.text);
    const s1 = await generator.generateSteps(tokens, 3, { sampling, seed: 42 });
    const s2 = await generator.generateSteps(tokens, 3, { sampling, seed: 42 });
    assert.deepEqual(s1.map((s) => s.text), s2.map((s) => s.text));
  });

  test('a request’s candidates share the prefix, evaluated once, match one-at-a-time sampling, and stay cached for their expansion', async () => {
    // One context of three sequences (side by side) against one sequence (one after the other).
    const side = await StepGenerator.create({ modelPath: COMMITTED_MICRO_MODEL, threads: 1, sequences: 3, contextSize: 256, delimiter: STEP_DELIMITER, engine: { gpu: 'auto', gpuLayers: 'auto', flashAttention: false, decoders: 1 } });
    const single = await StepGenerator.create({ modelPath: COMMITTED_MICRO_MODEL, threads: 1, sequences: 1, contextSize: 256, delimiter: STEP_DELIMITER });
    try {
      const builder = createPromptBuilder(side.model, ARITHMETIC.prompt, STEP_DELIMITER);
      const tokens = builder.tokens('6*7-8+9', ['42-8+9']);
      const steps = await side.generateSteps(tokens, 3, { sampling, seed: 11 });
      const alone = await single.generateSteps(tokens, 3, { sampling, seed: 11 });
      assert.deepEqual(steps.map((step) => step.text), alone.map((step) => step.text), 'the same seeds give the same candidates');
      const generated = steps.reduce((sum, step) => sum + step.generatedTokens, 0);
      // The prefix but its last token once; each candidate then evaluates that token and its own tokens but the last.
      assert.equal(side.counts.evaluated, tokens.length - 1 + generated, `evaluated ${side.counts.evaluated}, prefix ${tokens.length}, generated ${generated}`);
      for (const step of steps.filter((candidate) => candidate.stop === 'delimiter')) {
        const [next] = await side.generateSteps(builder.tokens('6*7-8+9', ['42-8+9', step.text]), 1, { sampling, seed: 12 });
        // Only the delimiter the candidate ended with is new (its sequence kept the rest).
        assert.ok((next?.evaluatedTokens ?? 99) <= (next?.generatedTokens ?? 0), `expanding ${JSON.stringify(step.text)}: ${JSON.stringify(next)}`);
      }
    } finally {
      await side.dispose();
      await single.dispose();
    }
  });

  test('a group of sequences holds a shared prefix evaluated once and copied, and siblings score as each alone would', async () => {
    const oneContext = { gpu: 'auto', gpuLayers: 'auto', flashAttention: false, decoders: 1 } as const;
    const contexts = await createContexts(COMMITTED_MICRO_MODEL, { threads: 1, contextSize: 256, sequences: 3, engine: oneContext });
    const grouped = await LogProbScorer.create({ modelPath: COMMITTED_MICRO_MODEL, threads: 1, sequences: 3, contextSize: 256, engine: oneContext });
    try {
      const pool = new SequencePool(interleavedSequences(contexts));
      const shared = tokenizeChunks(scorer.tokenizer, ['Q: 4*4-3\n', '16-3\n']).tokens as Token[];
      await pool.withShared(shared, 3, async (sequences, evaluated) => {
        assert.equal(new Set(sequences).size, 3);
        assert.equal(evaluated, shared.length, 'the prefix is evaluated once for the group');
        for (const sequence of sequences) assert.deepEqual(sequence.contextTokens, shared);
      });
      const texts = ['7', '8', '9'].map((last) => ['Q: 2+3*2\n', '2+6\n', `${last}\n`]);
      const together = await grouped.labelLogProbs(texts, ['+', '-']);
      for (const [index, chunks] of texts.entries()) {
        const [alone] = await scorer.labelLogProbs([chunks], ['+', '-']);
        (alone ?? []).forEach((value, label) => assert.ok(Math.abs(value - (together[index]?.[label] ?? NaN)) < 1e-4, `text ${index} label ${label}: ${value} vs ${together[index]?.[label]}`));
      }
    } finally {
      await Promise.all(contexts.map((context) => context.dispose()));
      await grouped.dispose();
    }
  });

  test('the policy binding counts tokens and feeds the steps so far back as prefix', async () => {
    const policy = enginePolicy({ generator, prompt: prompt(), question: '2+3*4', sampling, seed: 0 });
    const steps = await policy.proposeSteps(['2+12'], 2);
    assert.equal(policy.generatedTokens(), steps.reduce((sum, s) => sum + s.generatedTokens, 0));
  });

  test('next-token log-probabilities over the whole vocabulary sum to 1', async () => {
    const tokens = tokenizeChunks(scorer.tokenizer, ['Q: 2+3\n']).tokens as Token[];
    const vocabulary = Array.from({ length: scorer.model.fileInfo.metadata.tokenizer.ggml.tokens.length }, (_, i) => i as Token);
    const logProbs = await scorer.nextTokenLogProbs(tokens, vocabulary);
    const total = logProbs.reduce((sum, lp) => sum + Math.exp(lp), 0);
    assert.ok(Math.abs(total - 1) < 1e-3, `sum ${total}`);
    const [[five, six]] = await scorer.labelLogProbs([['Q: 2+3\n']], ['5', '6']) as [[number, number]];
    assert.ok(five <= 0 && six <= 0);
    assert.ok(Math.abs(five - (logProbs[labelToken(scorer.tokenizer, '5', '\n')] ?? 0)) < 1e-4, 'label log-prob equals the vocabulary entry');
  });

  test('continuation log-probability is the sum of its tokens’ log-probabilities', async () => {
    const prefix = tokenizeChunks(scorer.tokenizer, ['Q: 2+3\n']).tokens as Token[];
    const continuation = scorer.model.tokenize('5\n', false, 'trimLeadingSpace');
    const whole = await scorer.continuationLogProb(prefix, continuation);
    const first = await scorer.nextTokenLogProbs(prefix, [continuation[0]!]);
    const second = await scorer.nextTokenLogProbs([...prefix, continuation[0]!], [continuation[1]!]);
    assert.ok(Math.abs(whole - ((first[0] ?? 0) + (second[0] ?? 0))) < 1e-4, `${whole} vs ${first[0]} + ${second[0]}`);
  });
});

describe('prompt styles', () => {
  test('chat style renders the model chat template with the steps so far as the open model turn', async () => {
    const { loadModel } = await import('../engine/llama.ts');
    const model = await loadModel(COMMITTED_MICRO_MODEL);
    const builder = createPromptBuilder(model, { ...ARITHMETIC.prompt, style: 'chat', chat: '{question}\nSolve it step by step', system: 'Be exact.' }, STEP_DELIMITER);
    const text = model.detokenize(builder.tokens('2+3', ['5']), true);
    assert.ok(text.includes('Be exact.') && text.includes('2+3\nSolve it step by step'), text);
    assert.ok(text.endsWith('5\n'), `the open model turn ends with the steps: ${JSON.stringify(text)}`);
  });

  test('plain style is BOS, the templated question, then each step and its delimiter', async () => {
    const { loadModel } = await import('../engine/llama.ts');
    const model = await loadModel(COMMITTED_MICRO_MODEL);
    const builder = createPromptBuilder(model, ARITHMETIC.prompt, STEP_DELIMITER);
    assert.equal(model.detokenize(builder.tokens('7+5*3', ['7+15', '22']), true), '<s>Q: 7+5*3\n7+15\n22\n');
  });
});
