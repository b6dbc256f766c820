/** The task a run config names (tasks/config.ts), built once per distinct config. */
import { arithmeticAnswers, arithmeticTask } from './arithmetic.ts';
import { taskConfigSchema, type AnswerKind, type Extraction, type TaskConfig, type TaskConfigInput, type TaskKind } from './config.ts';
import { fileAnswerRules, gsm8kTask, jsonlTask, mathTask } from './file-tasks.ts';
import type { AnswerRules, Task, TaskPrompt } from './task.ts';
import { withTimingCoin } from './timing.ts';

const tasks = new Map<string, Task>();

/** The config's prompt settings over the task's defaults. */
function promptOverrides(prompt: TaskConfig['prompt']): Partial<TaskPrompt> {
  if (prompt === undefined) return {};
  if (prompt.style === 'plain') return { style: 'plain', preamble: prompt.preamble, ...(prompt.template === undefined ? {} : { plain: prompt.template }) };
  if (prompt.style === 'chat') return { style: 'chat', system: prompt.system, ...(prompt.template === undefined ? {} : { chat: prompt.template }) };
  return { style: 'auto', system: prompt.system };
}

export function loadTask(input: TaskConfigInput): Task {
  const config = taskConfigSchema.parse(input);
  const key = JSON.stringify(config);
  let task = tasks.get(key);
  if (task === undefined) {
    const prompt = promptOverrides(config.prompt);
    switch (config.kind) {
      case 'arithmetic':
        task = arithmeticTask({ prompt, delimiter: config.delimiter, maxDepth: config.maxDepth, maxStepTokens: config.maxStepTokens, extraction: config.answer.extraction });
        break;
      case 'gsm8k':
        task = gsm8kTask(config, prompt);
        break;
      case 'math':
        task = mathTask(config, prompt);
        break;
      case 'jsonl':
        task = jsonlTask(config, prompt);
        break;
    }
    if (config.timingCoin !== undefined) task = withTimingCoin(task, config.timingCoin, config.seed);
    tasks.set(key, task);
  }
  return task;
}

/** A task kind's answer rules alone (no problems read): grading completions. `answerKind` is for jsonl. */
export function answerRules(kind: TaskKind, answerKind: AnswerKind = 'number', extraction: Extraction = 'strict'): AnswerRules {
  if (kind === 'arithmetic') return arithmeticAnswers(extraction);
  return fileAnswerRules(kind === 'gsm8k' ? 'number' : kind === 'math' ? 'math' : answerKind, extraction);
}

/** The levels a run searches and evaluates: the config's, else every level of the split. */
export function runLevels(task: Task, config: TaskConfig): { train: number[]; eval: number[] } {
  return { train: config.trainLevels ?? task.levels('train'), eval: config.evalLevels ?? task.levels('test') };
}

export { GSM8K_FILES } from './file-tasks.ts';
export type { AnswerRules, Problem, Split, Task } from './task.ts';
