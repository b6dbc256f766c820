/**
 * Baselines with the same budget accounting as MCTS* (generated tokens through CountedModels):
 * greedy decoding, best-of-N (majority vote or PRM ranking) and PRM-guided step-level beam search.
 * Each builds a search tree, so that every algorithm's output is stored and labelled the same way.
 */
import { z } from 'zod';
import { addChild, answerLeaves, createTree, DEFAULT_MAX_DEPTH, nodeAt, stepState, stepsTo, weightedVote, type SearchNode, type SearchTree } from './tree.ts';
import { countedModels, type CountedModels, type PrefixValue, type SearchOutcome, type StepPolicy, type StepReader } from './types.ts';

interface BaselineOptions {
  question: string;
  policy: StepPolicy;
  reader: StepReader;
  /** Paths longer than this many steps end without an answer. */
  maxDepth?: number;
}

function extend(tree: SearchTree, parent: SearchNode, step: { text: string; generatedTokens: number }, reader: StepReader, maxDepth: number, prmScore = 0): SearchNode {
  parent.state = 'continue';
  const answer = reader.answerOf(step.text);
  return addChild(tree, parent, {
    step: step.text,
    prmScore,
    answer,
    generatedTokens: step.generatedTokens,
    state: stepState(parent, answer, maxDepth),
  });
}

/** Samples (or, greedily, decodes) `chains` full solutions step by step, all chains advancing together. */
async function sampleChains(models: CountedModels, tree: SearchTree, chains: number, reader: StepReader, maxDepth: number, greedy: boolean): Promise<SearchNode[]> {
  const root = nodeAt(tree, 0);
  const first = await models.propose([], chains, greedy);
  let live = first.map((step) => extend(tree, root, step, reader, maxDepth));
  const finished = live.filter((node) => node.state === 'end');
  live = live.filter((node) => node.state !== 'end');
  while (live.length > 0) {
    const steps = await Promise.all(live.map(async (node) => (await models.propose(stepsTo(tree, node), 1, greedy))[0]));
    // Nodes are added in chain order, not in the order the steps came back, so the tree is the same every run.
    const next = live.map((node, index) => {
      const step = steps[index];
      if (step === undefined) {
        node.state = 'end';
        return node;
      }
      return extend(tree, node, step, reader, maxDepth);
    });
    finished.push(...next.filter((node) => node.state === 'end'));
    live = next.filter((node) => node.state !== 'end');
  }
  return finished;
}

function outcome(algorithm: string, tree: SearchTree, answerNode: SearchNode | null, answer: string | null, models: CountedModels): SearchOutcome {
  return { algorithm, tree, answer, answerNode: answerNode?.id ?? null, stats: models.stats };
}

export async function greedySearch(options: BaselineOptions): Promise<SearchOutcome> {
  const models = countedModels(options.policy, null);
  const tree = createTree(options.question);
  const [leaf] = await sampleChains(models, tree, 1, options.reader, options.maxDepth ?? DEFAULT_MAX_DEPTH, true);
  return outcome('greedy', tree, leaf ?? null, leaf?.answer ?? null, models);
}

export const bestOfNPickSchema = z.enum(['vote', 'prm']);
export type BestOfNPick = z.infer<typeof bestOfNPickSchema>;

/**
 * The answer best-of-N picks from a tree of sampled chains: the majority answer, or the answer of
 * the chain whose final prefix the PRM scored highest (leaves carry that score as prmScore).
 */
export function pickBestOfN(tree: SearchTree, pick: BestOfNPick): { answer: string | null; answerNode: SearchNode | null } {
  const leaves = answerLeaves(tree);
  if (leaves.length === 0) return { answer: null, answerNode: null };
  if (pick === 'prm') {
    const best = leaves.reduce((a, b) => ((b.prmScore ?? 0) > (a.prmScore ?? 0) ? b : a));
    return { answer: best.answer, answerNode: best };
  }
  const answer = weightedVote(leaves, () => 1);
  return { answer, answerNode: leaves.find((leaf) => leaf.answer === answer) ?? null };
}

/**
 * N sampled solutions; with `maxGeneratedTokens`, further rounds of N until that many tokens were
 * generated (budget matching). With a value function the final prefix of every chain is scored, or
 * with `scoreEveryStep` every prefix (so that the tree carries a PRM score per step, as MCTS* trees do).
 */
export async function bestOfNSearch(
  options: BaselineOptions & { n: number; pick: BestOfNPick; value?: PrefixValue; maxGeneratedTokens?: number; scoreEveryStep?: boolean },
): Promise<SearchOutcome> {
  if (options.pick === 'prm' && options.value === undefined) throw new Error('best-of-N with PRM ranking needs a value function');
  const models = countedModels(options.policy, options.value ?? null);
  const tree = createTree(options.question);
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const leaves = await sampleChains(models, tree, options.n, options.reader, maxDepth, false);
  while (options.maxGeneratedTokens !== undefined && models.stats.generatedTokens < options.maxGeneratedTokens) {
    const before = models.stats.generatedTokens;
    leaves.push(...(await sampleChains(models, tree, options.n, options.reader, maxDepth, false)));
    if (models.stats.generatedTokens === before) break;
  }
  if (options.value !== undefined) {
    const scored = options.scoreEveryStep ? tree.nodes.slice(1) : leaves;
    const scores = await models.score(scored.map((node) => stepsTo(tree, node)));
    scored.forEach((node, index) => {
      node.prmScore = scores[index] ?? 0;
      node.value = node.prmScore;
    });
  }
  const { answer, answerNode } = pickBestOfN(tree, options.pick);
  return outcome(`best-of-${options.n}-${options.pick}`, tree, answerNode, answer, models);
}

/**
 * PRM-guided step-level beam search: each live beam proposes `expansions` next steps, the PRM
 * scores them all, and the `width` best unfinished prefixes go on; finished paths are collected
 * until `width` of them exist. The answer is the finished path with the highest PRM score.
 */
export async function beamSearch(options: BaselineOptions & { value: PrefixValue; width: number; expansions: number; maxGeneratedTokens?: number }): Promise<SearchOutcome> {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const models = countedModels(options.policy, options.value);
  const tree = createTree(options.question);
  const finished: SearchNode[] = [];
  let beams: SearchNode[] = [nodeAt(tree, 0)];
  const withinBudget = (): boolean => options.maxGeneratedTokens === undefined || models.stats.generatedTokens < options.maxGeneratedTokens;
  while (beams.length > 0 && finished.length < options.width && withinBudget()) {
    const proposals = await Promise.all(beams.map(async (beam) => ({ beam, steps: await models.propose(stepsTo(tree, beam), options.expansions) })));
    const fresh: { beam: SearchNode; step: { text: string; generatedTokens: number } }[] = [];
    for (const { beam, steps } of proposals) {
      const seen = new Set<string>();
      for (const step of steps) {
        if (seen.has(step.text)) continue;
        seen.add(step.text);
        fresh.push({ beam, step });
      }
    }
    const scores = await models.score(fresh.map(({ beam, step }) => [...stepsTo(tree, beam), step.text]));
    const children = fresh.map(({ beam, step }, index) => extend(tree, beam, step, options.reader, maxDepth, scores[index] ?? 0));
    finished.push(...children.filter((child) => child.state === 'end'));
    beams = children
      .filter((child) => child.state !== 'end')
      .sort((a, b) => b.value - a.value)
      .slice(0, options.width);
  }
  const withAnswer = finished.filter((node) => node.answer !== null);
  const best = withAnswer.length === 0 ? null : withAnswer.reduce((a, b) => (b.value > a.value ? b : a));
  return outcome(`beam-${options.width}x${options.expansions}`, tree, best, best?.answer ?? null, models);
}
