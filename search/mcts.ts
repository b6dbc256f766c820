/**
 * MCTS* as ReST-MCTS* implements it (../shared/DESIGN.md): UCT selection with INF for unvisited
 * children, an end gate on V (for paths that state an answer), expansion into distinct steps scored by the value function, a greedy
 * roll-forward whose best value is α-mixed into the new child, and visit-weighted backup.
 * Pure: the policy and the value function come in through search/types.ts.
 */
import { z } from 'zod';
import { createRng, type Rng } from '../tasks/random.ts';
import { addChild, answerLeaves, childrenOf, createTree, DEFAULT_MAX_DEPTH, nodeAt, stepState, stepsTo, weightedVote, type SearchNode, type SearchTree } from './tree.ts';
import { countedModels, type CountedModels, type PrefixValue, type SearchOutcome, type StepPolicy, type StepReader } from './types.ts';

export const mctsConfigSchema = z.strictObject({
  /** Select–expand–simulate–backup rounds at most (reference: 50 for data, 100 for evaluation). */
  iterations: z.number().int().positive().default(50),
  /** eval: stop at the first selected answer leaf with V ≥ endGate; data: count its visit and go on. */
  mode: z.enum(['eval', 'data']).default('data'),
  /** UCT exploration constant C. */
  exploration: z.number().nonnegative().default(0.5),
  /** Bonus of an unvisited child in place of the exploration term. */
  unvisitedBonus: z.number().nonnegative().default(0.9),
  endGate: z.number().min(0).max(1).default(0.9),
  /** Distinct children per expansion. */
  branch: z.number().int().positive().default(3),
  /** Extra policy calls per expansion to replace duplicate candidates. */
  duplicateRetries: z.number().int().nonnegative().default(2),
  /** Greedy roll-forward steps from the best new child (0 turns simulation off). */
  rollForward: z.number().int().nonnegative().default(2),
  /** Candidates sampled per roll-forward step; the one with the highest V is followed. */
  rollBranch: z.number().int().positive().default(1),
  /** Weight of the roll-forward's best value in the new child's V. */
  alpha: z.number().min(0).max(1).default(0.5),
  /** Paths longer than this many steps end without an answer. */
  maxDepth: z.number().int().positive().default(DEFAULT_MAX_DEPTH),
  /** Stop once the policy has generated this many tokens in this search (budget matching). */
  maxGeneratedTokens: z.number().int().positive().optional(),
  /** How the answer is picked from the end leaves: the highest V, or a V-weighted vote. */
  answerBy: z.enum(['best-leaf', 'vote']).default('best-leaf'),
  /** Seeds the random tie-breaks among equal UCT scores. */
  seed: z.number().int().nonnegative().default(0),
});
export type MctsConfig = z.output<typeof mctsConfigSchema>;
export type MctsConfigInput = z.input<typeof mctsConfigSchema>;

/** UCT of a child; unvisited children get V + unvisitedBonus. */
export function uctScore(child: SearchNode, parentVisits: number, config: Pick<MctsConfig, 'exploration' | 'unvisitedBonus'>): number {
  if (child.visits === 0) return child.value + config.unvisitedBonus;
  return child.value + config.exploration * Math.sqrt((2 * Math.log(parentVisits)) / child.visits);
}

function bestChildByUct(children: readonly SearchNode[], parent: SearchNode, config: MctsConfig, rng: Rng): SearchNode {
  let best: SearchNode[] = [];
  let bestScore = -Infinity;
  for (const child of children) {
    const score = uctScore(child, parent.visits, config);
    if (score > bestScore) {
      best = [child];
      bestScore = score;
    } else if (score === bestScore) {
      best.push(child);
    }
  }
  return rng.pick(best);
}

/** Walks down by UCT while the node is expanded; returns the leaf reached. */
export function selectLeaf(tree: SearchTree, config: MctsConfig, rng: Rng): SearchNode {
  let node = nodeAt(tree, 0);
  while (node.state === 'continue') {
    const children = childrenOf(tree, node);
    if (children.length === 0) break;
    node = bestChildByUct(children, node, config, rng);
  }
  return node;
}

/** N += 1 from `node` to the root; every expanded node's V becomes the visit-weighted mean of its children's. */
export function backpropagate(tree: SearchTree, node: SearchNode): void {
  for (let current: SearchNode | null = node; current !== null; current = current.parent === null ? null : nodeAt(tree, current.parent)) {
    current.visits += 1;
    const children = childrenOf(tree, current);
    const visits = children.reduce((sum, child) => sum + child.visits, 0);
    if (visits > 0) current.value = children.reduce((sum, child) => sum + child.visits * child.value, 0) / visits;
  }
}

class Mcts {
  private readonly tree: SearchTree;
  private readonly rng: Rng;

  constructor(
    question: string,
    private readonly models: CountedModels,
    private readonly reader: StepReader,
    private readonly config: MctsConfig,
  ) {
    this.tree = createTree(question);
    this.rng = createRng(config.seed);
  }

  private budgetSpent(): boolean {
    const { maxGeneratedTokens } = this.config;
    return maxGeneratedTokens !== undefined && this.models.stats.generatedTokens >= maxGeneratedTokens;
  }

  /** Asks for `branch` distinct new steps (also distinct from existing children), with a few retries. */
  private async distinctSteps(node: SearchNode): Promise<{ text: string; generatedTokens: number }[]> {
    const prefix = stepsTo(this.tree, node);
    const seen = new Set(childrenOf(this.tree, node).map((child) => child.step));
    const accepted: { text: string; generatedTokens: number }[] = [];
    for (let attempt = 0; attempt <= this.config.duplicateRetries && accepted.length < this.config.branch; attempt++) {
      if (attempt > 0 && this.budgetSpent()) break;
      const candidates = await this.models.propose(prefix, this.config.branch - accepted.length);
      for (const candidate of candidates) {
        if (seen.has(candidate.text) || accepted.length >= this.config.branch) continue;
        seen.add(candidate.text);
        accepted.push(candidate);
      }
    }
    return accepted;
  }

  /** Adds the node's children, each scored by the value function; returns them (empty when none could be made). */
  private async expand(node: SearchNode): Promise<SearchNode[]> {
    const steps = await this.distinctSteps(node);
    const prefix = stepsTo(this.tree, node);
    const scores = await this.models.score(steps.map((step) => [...prefix, step.text]));
    node.state = 'continue';
    return steps.map((step, index) => {
      const answer = this.reader.answerOf(step.text);
      return addChild(this.tree, node, {
        step: step.text,
        prmScore: scores[index] ?? 0,
        answer,
        generatedTokens: step.generatedTokens,
        state: stepState(node, answer, this.config.maxDepth),
      });
    });
  }

  /** Greedy roll-forward from `child` (not added to the tree); returns the best V seen. */
  private async rollForward(child: SearchNode): Promise<number> {
    let best = child.value;
    if (child.state === 'end') return best;
    const prefix = stepsTo(this.tree, child);
    for (let step = 0; step < this.config.rollForward && prefix.length < this.config.maxDepth && !this.budgetSpent(); step++) {
      const candidates = await this.models.propose(prefix, this.config.rollBranch);
      if (candidates.length === 0) break;
      const scores = await this.models.score(candidates.map((candidate) => [...prefix, candidate.text]));
      let chosen = 0;
      scores.forEach((score, index) => {
        if (score > (scores[chosen] ?? -Infinity)) chosen = index;
      });
      const chosenScore = scores[chosen] ?? 0;
      best = Math.max(best, chosenScore);
      const chosenText = candidates[chosen]?.text ?? '';
      prefix.push(chosenText);
      if (this.reader.answerOf(chosenText) !== null) break;
    }
    return best;
  }

  async run(): Promise<SearchOutcome> {
    const { config } = this;
    for (let iteration = 0; iteration < config.iterations && !this.budgetSpent(); iteration++) {
      const leaf = selectLeaf(this.tree, config, this.rng);
      if (leaf.state === 'end') {
        // The end gate applies to paths that state an answer (a verifier needs one): in evaluation
        // the first such leaf selected with V >= endGate is the result; otherwise, and in data mode,
        // the finished path counts a visit so that UCT moves on to its siblings.
        if (config.mode === 'eval' && leaf.answer !== null && leaf.value >= config.endGate) return this.outcome(leaf);
        backpropagate(this.tree, leaf);
        if (this.everyLeafEnded()) break;
        continue;
      }
      const children = await this.expand(leaf);
      if (children.length === 0) {
        // The policy could not continue this path: it ends here, without an answer.
        leaf.state = 'end';
        backpropagate(this.tree, leaf);
        continue;
      }
      const best = children.reduce((a, b) => (b.value > a.value ? b : a));
      if (config.rollForward > 0) {
        const rolled = await this.rollForward(best);
        best.value = (1 - config.alpha) * best.value + config.alpha * rolled;
      }
      best.visits += 1;
      backpropagate(this.tree, leaf);
    }
    return this.outcome(null);
  }

  private everyLeafEnded(): boolean {
    return this.tree.nodes.every((node) => node.state !== 'open');
  }

  private outcome(gated: SearchNode | null): SearchOutcome {
    let answerNode: SearchNode | null = gated;
    let answer = gated?.answer ?? null;
    if (answerNode === null) {
      const leaves = answerLeaves(this.tree);
      if (leaves.length > 0) {
        answerNode = leaves.reduce((a, b) => (b.value > a.value ? b : a));
        answer = this.config.answerBy === 'vote' ? weightedVote(leaves, (index) => leaves[index]?.value ?? 0) : answerNode.answer;
        if (answer !== answerNode.answer) {
          answerNode = leaves.filter((leaf) => leaf.answer === answer).reduce((a, b) => (b.value > a.value ? b : a));
        }
      }
    }
    return { algorithm: 'mcts', tree: this.tree, answer, answerNode: answerNode?.id ?? null, stats: this.models.stats };
  }
}

/** One MCTS* search for `question`; the policy and value function are already bound to it. */
export function mctsSearch(options: {
  question: string;
  policy: StepPolicy;
  value: PrefixValue;
  reader: StepReader;
  config?: MctsConfigInput;
}): Promise<SearchOutcome> {
  const config = mctsConfigSchema.parse(options.config ?? {});
  return new Mcts(options.question, countedModels(options.policy, options.value), options.reader, config).run();
}
