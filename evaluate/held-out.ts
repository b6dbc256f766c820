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
