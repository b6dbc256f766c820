/** The run a command is about: exactly one NAME, in runs/NAME unless --run-dir says where. */
import { defaultRunDir } from '../workflows/config.ts';
import { UsageError } from './usage-error.ts';

export function runDirFromArgs(command: string, positionals: readonly string[], runDirFlag: string | undefined): { name: string; runDir: string } {
  const [name] = positionals;
  if (name === undefined || positionals.length !== 1) throw new UsageError(`arbor ${command}: give exactly one run name (see arbor ${command} --help)`);
  return { name, runDir: runDirFlag ?? defaultRunDir(name) };
}
