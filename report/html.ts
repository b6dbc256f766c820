/**
 * report.html: one self-contained page that works offline — d3 and Observable Plot inlined from
 * their npm packages, the run's data as JSON (report/data.ts), report/page.js drawing it. Written to a
 * temporary file and renamed, so a reader never sees half a report.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeArtifact } from '../activities/artifacts.ts';
import type { RunStore } from '../store/run-store.ts';
import { reportData, type ReportData } from './data.ts';

/** Search trees per iteration the explorer holds by default: enough to browse every level, small enough to reload quickly. */
export const TREES_PER_ITERATION = 200;

const require = createRequire(import.meta.url);

/** A file of an installed package, found from its entry point (its `exports` hide the rest). */
function packageText(name: string, file: string): string {
  let dir = dirname(require.resolve(name));
  while (!dir.endsWith(`${sep}node_modules${sep}${name.split('/').join(sep)}`)) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = up;
  }
  return readFileSync(join(dir, file), 'utf8');
}

let scripts: string[] | null = null;
/** d3, Observable Plot's UMD build (which needs d3 as a global) and the page script, read once. */
function inlineScripts(): string[] {
  scripts ??= [packageText('d3', 'dist/d3.min.js'), packageText('@observablehq/plot', 'dist/plot.umd.min.js'), readFileSync(fileURLToPath(new URL('page.js', import.meta.url)), 'utf8')].map((text) =>
    text.replaceAll('</script', '<\\/script'),
  );
  return scripts;
}

const escapeHtml = (text: string): string => text.replace(/[&<>"]/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot' }[c]};`);

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1000px; padding: 0 20px 60px; color: #222; }
header { border-bottom: 1px solid #ddd; margin-bottom: 8px; }
h2 { margin-top: 36px; border-bottom: 1px solid #eee; }
section > p { color: #555; max-width: 820px; }
p.empty { font-style: italic; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
tr.best td { font-weight: 600; }
.controls { display: flex; gap: 16px; flex-wrap: wrap; margin: 8px 0; }
.controls select { max-width: 420px; }
.tree { overflow: auto; border: 1px solid #eee; max-height: 720px; }
.tree .link { fill: none; stroke: #bbb; stroke-width: 1.5; }
.tree .link.sft { stroke: #f28e2b; stroke-width: 4; }
.tree .node { cursor: pointer; font-size: 11px; }
.tree .node circle { stroke: #777; stroke-width: 1.5; }
.tree .node circle.correct { stroke: #2a2; stroke-width: 3; }
.tree .node circle.wrong { stroke: #d22; stroke-width: 3; }
.tree .node circle.selected { stroke: #000; stroke-width: 4; }
.tree .node circle.halo { fill: none; stroke-width: 3; stroke-dasharray: 3 2; }
.tree .node circle.halo.chosen { stroke: #2a2; }
.tree .node circle.halo.rejected { stroke: #d22; }
#node-detail { margin-top: 10px; padding: 8px 12px; background: #f7f7f7; }
#node-detail h3 { font-size: 13px; margin: 0 0 6px; }
#node-detail li.selected { font-weight: 600; }
.tooltip { position: absolute; display: none; white-space: pre-wrap; max-width: 420px; background: #fff; border: 1px solid #999; padding: 6px 8px; font-size: 12px; pointer-events: none; box-shadow: 0 2px 6px #0002; }
`;

export function reportHtml(data: ReportData): string {
  const title = `Arbor run ${data.run}`;
  const status = `${data.done} of ${data.iterations} iteration(s) done · task ${data.task} · written ${data.generatedAt} (the run rewrites this page after every activity: reload to see more)`;
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(status)}</p></header>
<main></main>
<script id="arbor-data" type="application/json">${json}</script>
${inlineScripts()
  .map((script) => `<script>${script}</script>`)
  .join('\n')}
</body>
</html>
`;
}

/** Writes the report of the store's run to `path` (a run's own: `<run dir>/report.html`), whole or not at all. */
export function writeReport(store: RunStore, path: string, options: { treesPerIteration?: number; now?: Date } = {}): void {
  writeArtifact(path, reportHtml(reportData(store, { treesPerIteration: options.treesPerIteration ?? TREES_PER_ITERATION, now: options.now ?? new Date() })));
}
