import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { REPORT_FILE } from '../activities/run-dir.ts';
import { reportData, stageMinutes, type ReportData } from '../report/data.ts';
import { writeReport } from '../report/html.ts';
import { addChild, createTree, nodeAt } from '../search/tree.ts';
import { RunStore } from '../store/run-store.ts';
import { workflowStartOptions } from '../cli/run.ts';
import { runConfigSchema } from '../workflows/config.ts';
import { arbor } from './arbor-cli.ts';

test('stage minutes add up every attempt of a stage, an unfinished one until now, in loop order', () => {
  const at = (minute: number): string => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  const attempt = (activity: string, iteration: number, start: number, end: number | null) => ({ activity, iteration, attempt: 1, started_at: at(start), ended_at: end === null ? null : at(end), outcome: null });
  const minutes = stageMinutes(
    [attempt('prepareRun', 0, 0, 2), attempt('searchShard', 1, 3, 5), attempt('planIteration', 1, 2, 3), attempt('searchShard', 1, 5, 9), attempt('trainModel', 1, 9, null)],
    Date.parse(at(12)),
  );
  assert.deepEqual(minutes, [
    { iteration: 0, stage: 'prepare', minutes: 2 },
    { iteration: 1, stage: 'plan', minutes: 1 },
    { iteration: 1, stage: 'search', minutes: 6 },
    { iteration: 1, stage: 'train', minutes: 3 },
  ]);
});

test('a run started under Temporal links its report in the memo and the details the UI shows', () => {
  const options = workflowStartOptions(runConfigSchema.parse({ name: 'linked' }), 'runs/linked');
  assert.equal(options.memo.report, resolve('runs/linked', REPORT_FILE));
  assert.ok(options.staticDetails.includes(`report ${resolve('runs/linked', REPORT_FILE)}`));
});

/** A browser for the report: $CHROME_PATH, else Debian's headless Chromium (.ci/run installs it). */
function chromium(): string | null {
  return [process.env.CHROME_PATH, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium', '/usr/bin/google-chrome'].find((path) => path !== undefined && existsSync(path)) ?? null;
}

describe('the HTML report of a quick run', () => {
  // Kept after the tests (runs/ is not committed): the screenshot is there to look at.
  const runDir = resolve('runs/test-report');
  let store: RunStore;
  let data: ReportData;

  before(async () => {
    await rm(runDir, { recursive: true, force: true });
    await mkdir(runDir, { recursive: true });
    await writeFile(join(runDir, 'config.json'), JSON.stringify({ runDir }));
    const run = await arbor('run', join(runDir, 'config.json'), '--quick', '--inline', '--name', 'test-report');
    assert.equal(run.code, 0, run.stderr);
    store = RunStore.open(join(runDir, 'arbor.db'), { readonly: true }) ?? assert.fail('no run recorded');
    data = reportData(store, { treesPerIteration: 200, now: new Date() });
  });
  after(() => store?.close());

  test('the run wrote report.html itself, after its last activity', async () => {
    const html = await readFile(join(runDir, REPORT_FILE), 'utf8');
    assert.match(html, /1 of 1 iteration\(s\) done/);
    assert.doesNotMatch(html, /<script[^>]+src=/, 'nothing is loaded from elsewhere');
    assert.match(html, /\/\/ @observablehq\/plot v\d/, 'Observable Plot is inlined');
    assert.match(html, /\/\/ https:\/\/d3js.org v7/, 'd3 is inlined');
  });

  test('its data are the database\'s: accuracy per level with the models marked, lineage, trees', () => {
    const greedy = data.accuracy.filter((row) => row.method === 'greedy');
    const levels = new Set(greedy.map((row) => row.level));
    assert.ok(levels.size >= 2, 'held-out accuracy at several levels');
    for (const row of greedy) {
      const model = store.iterationRows().find((iteration) => iteration.number === row.iteration)?.policy_model_id ?? store.models().find((m) => m.kind === 'policy' && m.iteration === 0)!.id;
      assert.equal(row.accuracy, store.evaluations(row.iteration, model, 'greedy').get(`accuracy_L${row.level}`));
    }
    assert.ok(greedy.filter((row) => row.iteration === 0).every((row) => row.mark === 'base'));
    const decision = store.iterationRows()[0]!.promoted;
    assert.ok(greedy.filter((row) => row.iteration === 1).every((row) => row.mark === (decision ? 'promoted' : 'not promoted')));
    assert.deepEqual(
      data.models.map((model) => model.id),
      store.models().map((model) => model.id),
    );
    assert.equal(data.models.filter((model) => model.best).length, 1);
    assert.ok(data.stages.some((row) => row.stage === 'search' && row.iteration === 1 && row.minutes > 0));
    // Every search of the quick run is in the explorer, with every node and its SFT rows.
    const searches = store.searchSummaries(1, 'mcts');
    assert.deepEqual(
      data.trees.map((tree) => tree.search),
      searches.map((search) => search.id),
    );
    for (const tree of data.trees) assert.equal(tree.nodes.length, store.nodes(tree.search).length);
    assert.equal(
      data.trees.reduce((sum, tree) => sum + tree.sft.length, 0),
      data.volumes.find((row) => row.kind === 'SFT rows')?.count,
    );
    // A smaller explorer still shows every level searched.
    const small = reportData(store, { treesPerIteration: 4, now: new Date() }).trees;
    assert.equal(small.length, 4);
    assert.equal(new Set(small.map((tree) => tree.level)).size, Math.min(4, new Set(searches.map((search) => search.difficulty)).size));
  });

  test('`arbor report` names a bad option and a missing folder', async () => {
    const bad = await arbor('report', 'test-report', '--run-dir', runDir, '--trees', 'many');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--trees must be an integer/);
    const nowhere = await arbor('report', 'test-report', '--run-dir', runDir, '--out', join(runDir, 'missing', 'r.html'));
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /no folder .*missing/);
  });

  const executable = chromium();
  describe('in headless Chromium', { skip: executable === null ? 'no Chromium: set CHROME_PATH or apt install chromium-headless-shell (.ci/run does)' : false }, () => {
    let browser: Browser;
    let page: Page;
    const errors: string[] = [];

    before(async () => {
      const written = await arbor('report', 'test-report', '--run-dir', runDir, '--out', join(runDir, 'report-cli.html'));
      assert.equal(written.code, 0, written.stderr);
      browser = await puppeteer.launch({ executablePath: executable!, args: ['--no-sandbox'] });
      page = await browser.newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(String(error)));
      await page.setViewport({ width: 1100, height: 900 });
      await page.goto(`file://${join(runDir, 'report-cli.html')}`);
    });
    after(() => browser?.close());

    test('every chart is drawn and nothing logs an error', async () => {
      const charts = await page.$$eval('.chart', (elements) =>
        elements.map((element) => ({ marks: element.querySelectorAll('svg path, svg circle, svg rect, svg image').length, width: element.querySelector('svg')?.getBoundingClientRect().width ?? 0 })),
      );
      // accuracy, PRM, data volumes, invalid-step share, monitors, what the policy learns from, time per stage, the explorer's colour legend
      assert.equal(charts.length, 8, JSON.stringify(charts));
      for (const chart of charts) {
        assert.ok(chart.marks > 0, `a chart has marks: ${JSON.stringify(charts)}`);
        assert.ok(chart.width > 0, 'a chart has a size');
      }
      assert.equal(await page.$$eval('p.empty', (elements) => elements.length), 0, 'no section waits for data');
      assert.ok((await page.$$eval('#lineage tbody tr', (rows) => rows.length)) === data.models.length);
      assert.deepEqual(errors, []);
    });

    test('the tree explorer opens a node on click and shows its step text', async () => {
      const search = Number(await page.$eval('#tree-problem', (element) => (element as unknown as { value: string }).value));
      const closed = await page.$$eval('.tree g.node[data-closed="true"]', (nodes) => nodes.map((node) => Number(node.getAttribute('data-index'))));
      assert.ok(closed.length > 0, 'the opened tree has a closed node');
      const before = await page.$$eval('.tree g.node', (nodes) => nodes.length);
      await page.click(`.tree g.node[data-index="${closed[0]}"] circle`);
      const afterClick = await page.$$eval('.tree g.node', (nodes) => nodes.length);
      assert.ok(afterClick > before, `clicking node ${closed[0]} shows its children (${before} → ${afterClick} nodes)`);
      const step = store.nodes(search).find((node) => node.node_index === closed[0])!.step;
      const detail = await page.$eval('#node-detail', (element) => element.textContent ?? '');
      assert.ok(detail.includes(step), `the detail shows the step ${JSON.stringify(step)}: ${detail}`);
      await page.hover(`.tree g.node[data-index="${closed[0]}"] circle`);
      assert.match(await page.$eval('.tooltip', (element) => element.textContent ?? ''), /visits \d+ · value [\d.]+ · PRM/);
      await page.screenshot({ path: join(runDir, 'report.png'), fullPage: true });
      assert.ok(existsSync(join(runDir, 'report.png')));
      assert.deepEqual(errors, []);
    });

    test('an SFT row\'s link opens the node its lineage names', async () => {
      const sft = data.trees.flatMap((tree) => tree.sft)[0] ?? assert.fail('the quick run kept no SFT row');
      const lineage = store.sftLineage(sft[0]);
      await page.goto(`file://${join(runDir, 'report-cli.html')}#sft=${sft[0]}`);
      assert.equal(Number(await page.$eval('#tree-problem', (element) => (element as unknown as { value: string }).value)), lineage.search_id);
      const detail = await page.$eval('#node-detail', (element) => element.textContent ?? '');
      assert.match(detail, new RegExp(`search #${lineage.search_id} · node ${lineage.node_index} .*SFT row #${sft[0]}`));
      assert.ok(detail.includes(lineage.last_step));
      assert.deepEqual(errors, []);
    });
  });
});

describe('a report of hostile text renders it as text: no script runs, the text shows', () => {
  const executable = chromium();
  const dir = resolve('runs/test-report-hostile');
  const HOSTILE = {
    question: 'What is 2+2? <script>window.__pwned = "question"</script></textarea><img src=x onerror="window.__pwned = \'img\'">',
    step: '</script><script>window.__pwned = "step"</script> javascript:window.__pwned="link" <b onmouseover="window.__pwned=1">4</b>',
    answer: 'A: <svg onload="window.__pwned = \'svg\'">',
    model: 'models/<img src=y onerror="window.__pwned=\'model\'">.gguf',
  };

  before(async () => {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const store = RunStore.create(join(dir, 'arbor.db'), 'hostile');
    store.ensureRun(runConfigSchema.parse({ name: 'hostile' }), 'now');
    const modelId = store.recordModel({ kind: 'policy', path: HOSTILE.model, sha256: 'f'.repeat(64), parentId: null, iteration: 0 });
    const problemId = store.upsertProblem({ task: 'arithmetic', split: 'train', question: HOSTILE.question, answer: '4', difficulty: 1 });
    const tree = createTree(HOSTILE.question);
    const step = addChild(tree, nodeAt(tree, 0), { step: HOSTILE.step, prmScore: 0.5, answer: null, generatedTokens: 9, state: 'continue' });
    addChild(tree, step, { step: HOSTILE.answer, prmScore: 0.5, answer: '<svg>', generatedTokens: 9, state: 'end' });
    store.saveSearch({ iteration: 1, problemId, policyModelId: modelId, prmModelId: null, algorithm: 'mcts', budget: 1, stats: {}, answer: '<svg>', correct: false, tree });
    store.recordPromotion({ iteration: 1, policyModelId: modelId, prmModelId: null, policyPromoted: false, reason: '<i onclick="x">a reason</i>' });
    writeReport(store, join(dir, REPORT_FILE));
    store.close();
  });

  test('the page holds no markup of the data', async () => {
    const html = await readFile(join(dir, REPORT_FILE), 'utf8');
    for (const text of ['<script>window.__pwned', '<img src=x', '<svg onload', '</textarea><img']) assert.ok(!html.includes(text), `${text} appears escaped only`);
  });

  test('in headless Chromium nothing of it runs and all of it shows', { skip: executable === null ? 'no Chromium: set CHROME_PATH or apt install chromium-headless-shell (.ci/run does)' : false }, async () => {
    const browser = await puppeteer.launch({ executablePath: executable!, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      await page.goto(`file://${join(dir, REPORT_FILE)}`);
      await page.click('.tree g.node[data-index="1"] circle');
      await page.hover('.tree g.node[data-index="1"] circle');
      const detail = await page.$eval('#node-detail', (element) => element.textContent ?? '');
      assert.ok(detail.includes(HOSTILE.step), `the step shows as text in the node's detail: ${detail}`);
      const shown = String(await page.evaluate("document.body.innerText + [...document.querySelectorAll('option')].map((option) => option.textContent).join('\\n')"));
      assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined', 'no script of the data ran');
      assert.deepEqual(dialogs, []);
      assert.equal(await page.$$eval('img, svg[onload], b[onmouseover]', (elements) => elements.length), 0, 'no element of the data was made');
      assert.ok(shown.includes('<script>window.__pwned = "question"</script>'), `the question shows as text: ${shown}`);
      assert.ok(shown.includes(HOSTILE.model), 'the model path shows as text');
    } finally {
      await browser.close();
    }
  });
});
