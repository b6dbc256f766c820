/**
 * The run's tables as text: per iteration (held-out accuracy by level, PRM AUC, promotion) and per
 * iteration and level (what the searches found and kept) — printed at the end of a run, by
 * `arbor status`, and kept as report.md.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SEARCH_PASS_K } from '../activities/data.ts';
import { RESULT_FILE, TABLES_FILE } from '../activities/run-dir.ts';
import { levelMetric, levelOfMetric, type IterationRecord, type RunResult } from '../workflows/types.ts';

/** The per-iteration table printed at the end of a run and stored as report.md. */
export function iterationTable(records: readonly IterationRecord[]): string {
  const evaluated = [...new Set(records.flatMap((record) => Object.keys(record.accuracyByLevel)))].sort((a, b) => Number(a) - Number(b));
  const percent = (value: number | undefined | null): string => (value === undefined || value === null ? '—' : `${(value * 100).toFixed(1)}`);
  const header = ['iteration', ...evaluated.map((k) => `acc L${k} %`), 'mean %', 'PRM AUC', 'promoted', 'policy'];
  const rows = records.map((record): string[] => [
    String(record.iteration),
    ...evaluated.map((k) => percent(record.accuracyByLevel[k])),
    percent(record.accuracy),
    record.prmAuc === null ? '—' : record.prmAuc.toFixed(3),
    record.iteration === 0 ? 'base' : record.policyPromoted ? 'yes' : 'no',
    record.policyPath,
  ]);
  const searched = records.flatMap((record) => Object.keys(record.training).flatMap((metric) => levelOfMetric('searched', metric) ?? []).map(String));
  const levels = [...new Set([...evaluated, ...searched])].sort((a, b) => Number(a) - Number(b));
  return [markdownTable(header, rows), '', levelTable(records, levels), '', learningTable(records)].join('\n');
}

/** Per iteration: what the policy learns from (TRL's names; report/data.ts charts the same). */
function learningTable(records: readonly IterationRecord[]): string {
  const searched = records.filter((record) => record.iteration > 0 && record.training.mean_reward !== undefined);
  const value = (record: IterationRecord, metric: string, digits = 3): string => {
    const measured = record.training[metric];
    return measured === undefined ? '—' : measured.toFixed(digits);
  };
  const nonzero = (record: IterationRecord): string => {
    const zeroStd = record.training.frac_reward_zero_std;
    return zeroStd === undefined ? '—' : ((1 - zeroStd) * 100).toFixed(1);
  };
  const header = ['iteration', 'mean reward', 'frac_reward_zero_std', 'non-zero gradient %', 'mean |advantage|', 'completion tokens', 'entropy', 'KL', 'clip fraction'];
  const rows = searched.map((record) => [
    String(record.iteration),
    value(record, 'mean_reward'),
    value(record, 'frac_reward_zero_std'),
    nonzero(record),
    value(record, 'mean_abs_advantage'),
    value(record, 'completion_length', 1),
    value(record, 'entropy'),
    value(record, 'kl'),
    value(record, 'clip_frac'),
  ]);
  return rows.length === 0 ? '' : markdownTable(header, rows);
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

/**
 * Per iteration and level (arithmetic: operators): held-out accuracy (strict: the task's answer
 * format), read flexibly beside it and the answers only that reading finds right, then what the
 * iteration searched and kept (activities/data.ts).
 */
function levelTable(records: readonly IterationRecord[], levels: readonly string[]): string {
  const header = ['iteration', 'level', 'acc %', 'flexible acc %', 'hidden answers', 'searched', 'solve rate %', `pass@${SEARCH_PASS_K} %`, 'distinct correct', 'SFT rows', 'SFT invalid steps %'];
  const percent = (value: number | undefined): string => (value === undefined ? '—' : (value * 100).toFixed(1));
  const count = (value: number | undefined): string => (value === undefined ? '—' : String(Math.round(value * 100) / 100));
  const rows = records
    .filter((record) => record.iteration > 0)
    .flatMap((record) =>
      levels.map((k) => {
        const metric = (name: string): number | undefined => record.training[levelMetric(name, k)];
        return [String(record.iteration), k, percent(record.accuracyByLevel[k]), percent(record.flexibleAccuracyByLevel?.[k]), count(record.hiddenAnswersByLevel?.[k]), count(metric('searched')), percent(metric('solve_rate')), percent(metric(`pass@${SEARCH_PASS_K}`)), count(metric('distinct_correct')), count(metric('sft_rows')), percent(metric('sft_invalid'))];
      }),
    );
  return rows.length === 0 ? '' : markdownTable(header, rows);
}

/** report.md (these tables and each promotion's reason) and report.json (the run's result) beside the run's database; returns the tables. */
export async function writeTables(runDir: string, result: RunResult): Promise<string> {
  const table = iterationTable(result.iterations);
  const reasons = result.iterations.filter((record) => record.iteration > 0).map((record) => `- iteration ${record.iteration}: ${record.reason}`);
  await writeFile(join(runDir, TABLES_FILE), `# ${runDir}\n\nstatus: ${result.status}\n\n${table}\n\n${reasons.join('\n')}\n`);
  await writeFile(join(runDir, RESULT_FILE), JSON.stringify(result, null, 2) + '\n');
  return table;
}

