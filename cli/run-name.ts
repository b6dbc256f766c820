/**
 * Where a run lives, checked once for every command: a run name is one folder name inside runs/
 * (workflows/config.ts's runNameSchema: no `..`, no `/`, no NUL), runs/NAME may not be a link that
 * leads outside runs/, and no path holds a NUL. Each refusal names the argument and comes before
 * anything is written.
 */
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative } from 'node:path';
import { z } from 'zod';
import { defaultRunDir, runNameSchema } from '../workflows/config.ts';
import { UsageError } from './usage-error.ts';

/** The run a command is about: exactly one NAME, in runs/NAME unless --run-dir says where. */
export function runDirFromArgs(command: string, positionals: readonly string[], runDirFlag: string | undefined): { name: string; runDir: string } {
  const [name] = positionals;
  if (name === undefined || positionals.length !== 1) throw new UsageError(`arbor ${command}: give exactly one run name (see arbor ${command} --help)`);
  checkedRunName(`arbor ${command}`, name);
  return { name, runDir: runDirFlag === undefined ? checkedRunDir(`arbor ${command}`, defaultRunDir(name)) : checkedPath(`arbor ${command} --run-dir`, runDirFlag) };
}

function checkedRunName(where: string, name: string): string {
  const parsed = runNameSchema.safeParse(name);
  if (!parsed.success) throw new UsageError(`${where}: run name ${JSON.stringify(name)} is not allowed: ${z.prettifyError(parsed.error).replace(/^✖ /, '')}`);
  return name;
}

/** runs/NAME as it is: refused when it is a link that leads outside runs/ (a run writes only inside runs/; --run-dir puts one elsewhere). */
export function checkedRunDir(where: string, runDir: string): string {
  if (!existsSync(runDir) || !lstatSync(runDir).isSymbolicLink()) return runDir;
  const root = realpathSync(dirname(runDir));
  const target = realpathSync(runDir);
  const inside = relative(root, target);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) throw new UsageError(`${where}: ${runDir} is a link to ${target}, outside ${root}: a run writes only inside runs/ (give --run-dir to keep a run elsewhere)`);
  return runDir;
}

export function checkedPath(where: string, path: string): string {
  if (path.includes('\0')) throw new UsageError(`${where}: ${JSON.stringify(path)} holds a NUL character`);
  return path;
}
