/**
 * Fixed held-out problem sets (the task's test split), so every evaluation of a model — `npm start`,
 * `npm run bench:micro`, later iterations of the loop — scores the same questions.
 */
import type { Problem, Task } from '../tasks/index.ts';

/** The seed of every held-out sample. */
export const HELD_OUT_SEED = 20261122;

/** The micro model's reference set: 1 operator has only 30 test-split questions in all, every one of them is used. */
export const MICRO_HELD_OUT: Record<number, number> = { 1: 30, 2: 200, 3: 200, 4: 200, 5: 200 };

/** Up to `perLevel[level]` test problems of each level (fewer where the split holds fewer). */
export function heldOutProblems(task: Task, perLevel: Record<number, number>): Problem[] {
  return Object.entries(perLevel).flatMap(([level, count]) =>
    task.sample('test', { seed: HELD_OUT_SEED, level: Number(level), count: Math.min(count, task.count('test', Number(level))) }),
  );
}

/** The seed of the fresh problems (evaluate/held-out.ts: freshProblems). */
export const FRESH_SEED = HELD_OUT_SEED + 1;

/**
 * `count` test problems of a level that are not among the first `heldOut` held-out ones: a second,
 * larger measurement that no decision of a run (promotion) has seen.
 */
export function freshProblems(task: Task, level: number, count: number, heldOut: number): Problem[] {
  const taken = new Set(heldOutProblems(task, { [level]: heldOut }).map((problem) => problem.question));
  const available = task.count('test', level);
  const pool = task.sample('test', { seed: FRESH_SEED, level, count: Math.min(available, count + taken.size) });
  return pool.filter((problem) => !taken.has(problem.question)).slice(0, count);
}
