/**
 * The timing coin: answer rules for timing a run on a model with random weights (bench:scale), which
 * never states an answer nor gets one right, so a run on it would build no data and train on
 * nothing. A step ends the solution with probability `answerShare` and an answer is right with
 * probability `correctShare`, each by a seeded hash of the text (the same text always lands the same
 * way). Every accuracy such a run prints is the coin's, never the model's: it is for timing only.
 */
import { z } from 'zod';
import { fnv1a32, type Task } from './task.ts';

export const timingCoinSchema = z.strictObject({
  answerShare: z.number().min(0).max(1).default(0.25),
  correctShare: z.number().min(0).max(1).default(0.3),
});
export type TimingCoin = z.output<typeof timingCoinSchema>;

/** `task` with the coin's answer rules (its answers, where a step states one, are kept but graded by the coin too). */
export function withTimingCoin(task: Task, coin: TimingCoin, seed: number): Task {
  const flip = (text: string): number => fnv1a32(`${seed}\u0000${text}`) / 2 ** 32;
  const answerOf = (step: string): string | null => task.answerOf(step) ?? (flip(`answer\u0000${step}`) < coin.answerShare ? `coin-${fnv1a32(step)}` : null);
  return {
    ...task,
    answerOf,
    extractAnswer: (completion) => task.extractAnswer(completion) ?? answerOf(completion),
    flexibleAnswer: (completion) => task.flexibleAnswer(completion) ?? answerOf(completion),
    isCorrect: (answer, gold) => flip(`correct\u0000${answer}\u0000${gold}`) < coin.correctShare,
  };
}
