// A hand-built search tree with known answers, for tests of the store and of data building.
import { markCorrectness } from '../reward/verifiers.ts';
import { addChild, createTree, nodeAt, type SearchTree } from '../search/tree.ts';
import { loadTask } from '../tasks/index.ts';

const arithmetic = loadTask({ kind: 'arithmetic' });

/** 2+3*4 → root ─ "2+12" ─ "14" ─ "A: 14" (correct) / "A: 15" (wrong); root ─ "5*4" ─ "A: 20" (wrong). */
export function searchedTree(): SearchTree {
  const tree = createTree('2+3*4');
  const add = (parent: number, step: string, value: number) =>
    addChild(tree, nodeAt(tree, parent), { step, prmScore: value, answer: arithmetic.answerOf(step), generatedTokens: step.length, state: arithmetic.answerOf(step) === null ? 'continue' : 'end' }).id;
  const good = add(0, '2+12', 0.8);
  const fourteen = add(good, '14', 0.9);
  add(fourteen, 'A: 14', 0.95);
  add(fourteen, 'A: 15', 0.2);
  const bad = add(0, '5*4', 0.3);
  add(bad, 'A: 20', 0.1);
  markCorrectness(tree, arithmetic, '14');
  return tree;
}
