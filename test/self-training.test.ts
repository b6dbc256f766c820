/**
 * What the loop learns from, and how it picks where to look: the frontier over difficulty levels,
 * Monte Carlo prefix labels from outcomes, the SFT value floor, and the rule that the arithmetic
 * task's exact step checker never reaches training data (it only measures).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { COMMITTED_MICRO_MODEL } from '../train/micro-model.ts';
import { buildIterationData } from '../data/build-sets.ts';
import { objectiveNamed } from './objective.ts';
import { invalidStepShare } from '../evaluate/metrics.ts';
import { monteCarloChains } from '../reward/monte-carlo.ts';
import type { Verifier } from '../reward/verifiers.ts';
import { loadTask, type Task } from '../tasks/index.ts';

const arithmetic = loadTask({ kind: 'arithmetic' });
const stepLabels = (question: string, steps: readonly string[]): boolean[] => arithmetic.stepLabels?.(question, steps) ?? assert.fail('arithmetic checks steps');
import { frontierProblems, problemsPerLevel } from '../search/budget.ts';
import { addChild, createTree, nodeAt } from '../search/tree.ts';
import { RunStore } from '../store/run-store.ts';
import { seedPrmRecipeSchema, writeSeedPrmData } from '../train/seed-prm.ts';
import { scriptedPolicy } from './search-fakes.ts';
import { useTempDir } from './temp-dir.ts';

const SFT = objectiveNamed('sft');

describe('frontier: problems per difficulty level from solve rates', () => {
  test('within a level, problems searched before with solve rate 0 or 1 are passed over, fresh and contested ones kept in order', () => {
    const candidates = ['a', 'b', 'c', 'd', 'e', 'f'];
    assert.deepEqual(frontierProblems(candidates, [1, null, 0.5, 0, null, 0.2], 3), { chosen: ['b', 'c', 'e'], settled: 2 });
    // Stops once enough are chosen: 'f' is never looked at; too few candidates give fewer.
    assert.deepEqual(frontierProblems(candidates, [null, null, 1, 1, 1, 1], 4), { chosen: ['a', 'b'], settled: 4 });
  });

  test('the level solved sometimes gets most; solved and hopeless levels keep the floor; counts sum to the total', () => {
    const counts = problemsPerLevel(new Map([[1, 1], [2, 0.97], [3, 0.3], [4, 0]]), 100);
    // Weights max(p(1 − p), 0.05): 0.05, 0.05, 0.21, 0.05 → 13.9, 13.9, 58.3, 13.9.
    assert.deepEqual([...counts], [[1, 14], [2, 14], [3, 58], [4, 14]]);
  });

  test('unknown levels count as p = 1/2; with nothing known the split is even', () => {
    assert.deepEqual([...problemsPerLevel(new Map([[1, null], [2, null], [3, null]]), 10)], [[1, 4], [2, 3], [3, 3]]);
    assert.deepEqual([...problemsPerLevel(new Map([[2, 0.5], [3, null], [4, 1]]), 54, { floor: 0 })], [[2, 27], [3, 27], [4, 0]]);
  });

  test('as a level is learned the frontier moves up', () => {
    const before = problemsPerLevel(new Map([[3, 0.3], [4, 0.02]]), 100);
    const after = problemsPerLevel(new Map([[3, 0.95], [4, 0.3]]), 100);
    assert.ok((before.get(3) ?? 0) > (before.get(4) ?? 0));
    assert.ok((after.get(4) ?? 0) > (after.get(3) ?? 0));
  });
});

describe('Monte Carlo prefix labels (Math-Shepherd) from outcomes', () => {
  /**
   * 2+3*4 (answer 14). Sampled chains: "2+12" → "14" → "A: 14" twice, "5*4" → "A: 20" once, "2+12" → "A: 15" once.
   * Rollouts from "2+12" end "A: 14"; from "5*4" they end "A: 20"; from "2+12|14" they end "A: 14".
   */
  const policy = () =>
    scriptedPolicy({
      '': [['2+12', '5*4', '2+12', '2+12']],
      '2+12': [['14'], ['14'], ['A: 15'], ['14']],
      '2+12|14': [['A: 14']],
      '5*4': [['A: 20']],
    });

  test('each prefix: share of correct continuations (sampled chains through it plus rollouts); a final step: its own outcome', async () => {
    const chains = await monteCarloChains({ question: '2+3*4', gold: '14', policy: policy(), verifier: arithmetic, samples: 4, rollouts: 2, maxDepth: 5 });
    const byText = Object.fromEntries(chains.map((chain) => [chain.completions.join('|'), chain.labels]));
    assert.deepEqual(Object.keys(byText).sort(), ['2+12|14|A: 14', '2+12|A: 15', '5*4|A: 20'], 'distinct chains only');
    // "2+12": 3 sampled chains through it, 2 correct, plus 2 rollouts ("14" then "A: 14": both correct) → 4/5.
    // "2+12|14": 2 chains, both correct, plus 2 correct rollouts → 1. "5*4": 0 of 1 + 0 of 2 → 0.
    assert.deepEqual(byText['2+12|14|A: 14'], [4 / 5, 1, 1]);
    assert.deepEqual(byText['2+12|A: 15'], [4 / 5, 0]);
    assert.deepEqual(byText['5*4|A: 20'], [0, 0]);
    // Hard labels: 1 where any continuation ends correct.
    const hard = await monteCarloChains({ question: '2+3*4', gold: '14', policy: policy(), verifier: arithmetic, samples: 4, rollouts: 2, maxDepth: 5, labels: 'hard' });
    assert.deepEqual(Object.fromEntries(hard.map((chain) => [chain.completions.join('|'), chain.labels])), { '2+12|14|A: 14': [1, 1, 1], '2+12|A: 15': [1, 0], '5*4|A: 20': [0, 0] });
  });

  test('labels need no step checker and no rollouts beyond the samples when rollouts = 0', async () => {
    const answerOnly: Verifier = { answerOf: arithmetic.answerOf, isCorrect: arithmetic.isCorrect };
    const chains = await monteCarloChains({ question: '2+3*4', gold: '14', policy: policy(), verifier: answerOnly, samples: 4, rollouts: 0, maxDepth: 5 });
    assert.deepEqual(chains.find((chain) => chain.completions[0] === '2+12' && chain.completions.length === 3)?.labels, [2 / 3, 1, 1]);
  });
});

describe('SFT value floor and the invalid-step measure', () => {
  const dir = useTempDir('arbor-self-training-');

  /** 2+3*4: "2+12"(0.8) → "14"(0.9) → "A: 14"(0.95) is sound; "5*4"(0.1) → "A: 14"(0.9) is right by luck. */
  function store(path: string): RunStore {
    const run = RunStore.create(path, 'floor');
    run.ensureRun({ name: 'floor' }, '2026-11-30T00:00:00Z');
    const tree = createTree('2+3*4');
    const add = (parent: number, step: string, score: number) =>
      addChild(tree, nodeAt(tree, parent), { step, prmScore: score, answer: arithmetic.answerOf(step), generatedTokens: 1, state: arithmetic.answerOf(step) === null ? 'continue' : 'end' }).id;
    add(add(add(0, '2+12', 0.8), '14', 0.9), 'A: 14', 0.95);
    add(add(0, '5*4', 0.1), 'A: 14', 0.9);
    for (const node of tree.nodes) node.correct = node.answer === null ? null : node.answer === '14';
    const problemId = run.upsertProblem({ task: 'arithmetic', split: 'train', question: '2+3*4', answer: '14', difficulty: 2 });
    run.saveSearch({ iteration: 1, problemId, policyModelId: null, prmModelId: null, algorithm: 'mcts', budget: 4, stats: {}, answer: '14', correct: true, tree });
    return run;
  }

  test('a correct solution is kept only when the PRM scored every step at or above the floor', async () => {
    const sftOf = async (floor: number, name: string): Promise<string[]> => {
      const path = join(dir(), `${name}.jsonl`);
      const data = { sftValueFloor: floor, sftContestedRepeat: 1 };
      await buildIterationData({ store: store(join(dir(), `${name}.db`)), iteration: 1, promptOf: (q) => `Q: ${q}\n`, prmPromptOf: (q) => `Q: ${q}\n`, delimiter: '\n', objective: SFT, policyPath: path, prmPath: join(dir(), `${name}-prm.jsonl`), data });
      return (await readFile(path, 'utf8')).trim().split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { completion: string }).completion);
    };
    assert.deepEqual(await sftOf(0, 'none'), ['2+12\n14\nA: 14\n', '5*4\nA: 14\n'], 'without a floor the lucky path is kept too');
    assert.deepEqual(await sftOf(0.2, 'floor'), ['2+12\n14\nA: 14\n'], 'the lucky path has a step scored 0.1');
    assert.deepEqual(await sftOf(0.85, 'high'), [], 'the sound path has a step scored 0.8');
  });

  test('solutions of contested problems (the search also ended wrong) are written sftContestedRepeat times; always-solved ones once', async () => {
    const contested = store(join(dir(), 'contested.db'));
    const path = join(dir(), 'contested.jsonl');
    const build = () => buildIterationData({ store: contested, iteration: 1, promptOf: (q) => `Q: ${q}\n`, prmPromptOf: (q) => `Q: ${q}\n`, delimiter: '\n', objective: SFT, policyPath: path, prmPath: join(dir(), 'contested-prm.jsonl'), data: { sftContestedRepeat: 3, sftValueFloor: 0.2 } });
    await build();
    const lines = async () => (await readFile(path, 'utf8')).trim().split('\n');
    assert.equal((await lines()).length, 1, 'every end of this tree is correct: not contested');
    const problemId = contested.upsertProblem({ task: 'arithmetic', split: 'train', question: '2+3', answer: '5', difficulty: 1 });
    const tree = createTree('2+3');
    const add = (parent: number, step: string) =>
      addChild(tree, nodeAt(tree, parent), { step, prmScore: 0.9, answer: arithmetic.answerOf(step), generatedTokens: 1, state: arithmetic.answerOf(step) === null ? 'continue' : 'end' }).id;
    add(add(0, '5'), 'A: 5');
    add(add(0, '6'), 'A: 6');
    for (const node of tree.nodes) node.correct = node.answer === null ? null : node.answer === '5';
    contested.saveSearch({ iteration: 1, problemId, policyModelId: null, prmModelId: null, algorithm: 'mcts', budget: 2, stats: {}, answer: '5', correct: true, tree });
    await build();
    assert.deepEqual((await lines()).map((line) => (JSON.parse(line) as { prompt: string }).prompt), ['Q: 2+3*4\n', 'Q: 2+3\n', 'Q: 2+3\n', 'Q: 2+3\n']);
  });

  test('invalid-step share counts every step the checker rejects', () => {
    const rows = [
      { question: '2+3*4', steps: ['2+12', '14', 'A: 14'] },
      { question: '2+3*4', steps: ['5*4', 'A: 14'] },
    ];
    assert.equal(invalidStepShare(rows, stepLabels), 1 / 5, '"5*4" breaks precedence; "A: 14" states the true answer');
    assert.equal(invalidStepShare([], stepLabels), 0);
  });
});

describe('the step checker never reaches training data', () => {
  const dir = useTempDir('arbor-checker-');

  test('the seed PRM data is the same with the checker replaced by one that throws, and the same on a second run', async () => {
    const recipe = seedPrmRecipeSchema.parse({ problems: { '2': 6, '3': 6 }, samplesPerProblem: 3, rollouts: 1 });
    const throwing = { ...arithmetic, stepLabels: (): never => assert.fail('the step checker was called') };
    const write = async (name: string, task: Task) => {
      const out = join(dir(), `${name}.jsonl`);
      const data = await writeSeedPrmData({ policyModel: COMMITTED_MICRO_MODEL, recipe, task, out, threads: 1, sequences: 4 });
      return { data, text: await readFile(out, 'utf8') };
    };
    const first = await write('first', arithmetic);
    const second = await write('second', throwing);
    assert.ok(first.data.rows >= 12, `${first.data.rows} rows`);
    assert.equal(second.text, first.text, 'same rows, same order, same labels');
    assert.deepEqual(second.data, first.data);
  });

  test('no module that builds training data imports the step checker', async () => {
    const trainingPath = ['data/build-sets.ts', 'reward/monte-carlo.ts', 'reward/value-targets.ts', 'train/seed-prm.ts', 'activities/plan.ts', 'activities/search.ts', 'activities/ingest.ts', 'activities/train.ts'];
    for (const file of trainingPath) {
      const source = await readFile(file, 'utf8');
      assert.doesNotMatch(source, /stepLabels|labelSolution|checkStep|prefixLabels|invalidStepShare/, `${file} must not use the exact step checker`);
    }
  });
});
