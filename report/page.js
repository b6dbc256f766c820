// The report page, run in the browser: charts drawn by Observable Plot and the tree explorer laid out
// by d3 (both inlined before this script), from the run's data embedded as JSON (report/data.ts).
/* global d3, Plot */
const data = JSON.parse(document.getElementById('arbor-data').textContent);
const main = document.querySelector('main');
const WIDTH = 960;
const iterationAxis = { label: 'iteration', type: 'point', padding: 0.4 };

function section(id, title, explanation) {
  const element = document.createElement('section');
  element.id = id;
  element.innerHTML = `<h2>${title}</h2>`;
  const text = document.createElement('p');
  text.textContent = explanation;
  element.append(text);
  main.append(element);
  return element;
}

/** A chart, or a line saying why there is none yet. */
function chart(parent, rows, draw, missing) {
  if (rows.length === 0) {
    const note = document.createElement('p');
    note.className = 'empty';
    note.textContent = missing;
    parent.append(note);
    return;
  }
  const holder = document.createElement('div');
  holder.className = 'chart';
  holder.append(draw(rows));
  parent.append(holder);
}

const percent = (value) => `${(value * 100).toFixed(1)}%`;

/** One line per series over the iterations (`series`: the field naming it), with a dot and tip at each point. */
const seriesPlot = (rows, series, y) =>
  Plot.plot({
    width: WIDTH,
    height: 280,
    x: iterationAxis,
    y: { grid: true, ...y },
    color: { legend: true },
    marks: [Plot.line(rows, { x: 'iteration', y: 'value', stroke: series }), Plot.dot(rows, { x: 'iteration', y: 'value', stroke: series, tip: true })],
  });

chart(
  section('accuracy', `Held-out accuracy per ${data.levelName}`, 'Each iteration\'s candidate policy on the held-out problems, greedy and with search (one panel per method); iteration 0 is the base model. A candidate replaces the best policy only if no level drops by more than the tolerance: its points are marked promoted or not promoted.'),
  data.accuracy,
  (rows) =>
    Plot.plot({
      width: WIDTH,
      height: 340,
      marginBottom: 40,
      fx: { label: 'method' },
      x: iterationAxis,
      y: { label: 'accuracy (%)', domain: [0, 100], grid: true },
      color: { type: 'ordinal', scheme: 'observable10', legend: true, tickFormat: (level) => `${data.levelName} ${level}` },
      symbol: { legend: true, domain: ['base', 'promoted', 'not promoted', 'undecided'], range: ['star', 'circle', 'times', 'diamond'] },
      marks: [
        Plot.frame({ stroke: '#ddd' }),
        Plot.line(rows, { fx: 'method', x: 'iteration', y: (d) => d.accuracy * 100, stroke: (d) => String(d.level) }),
        Plot.dot(rows, {
          fx: 'method',
          x: 'iteration',
          y: (d) => d.accuracy * 100,
          stroke: (d) => String(d.level),
          symbol: 'mark',
          r: 5,
          strokeWidth: 2,
          channels: { model: 'mark' },
          tip: { format: { y: (v) => `${v.toFixed(1)}%` } },
        }),
      ],
    }),
  'No held-out evaluation yet: the base models are evaluated while the run prepares.',
);

chart(
  section('prm', 'Process reward model', 'Step AUC: how well the PRM\'s step scores separate valid from invalid steps of held-out solutions; first-error accuracy: how often its lowest-scored step is the first wrong one. Iteration 0 is the seed PRM; the task\'s exact step checker measures these and never labels training data.'),
  data.prm,
  (rows) => seriesPlot(rows, 'metric', { label: 'score', domain: [0, 1] }),
  'No PRM measurement: the task has no step checker, or the base PRM is still being evaluated.',
);

const volumes = section('data', 'Training data', 'What each iteration\'s searches produced: searches run, SFT rows (correct solutions), PRM rows (steps with value targets) and step preference pairs.');
chart(
  volumes,
  data.volumes,
  (rows) =>
    Plot.plot({
      width: WIDTH,
      height: 300,
      fx: { label: 'iteration' },
      x: { axis: null },
      y: { label: 'rows', grid: true },
      color: { legend: true },
      marks: [Plot.barY(rows, { fx: 'iteration', x: 'kind', y: 'count', fill: 'kind', tip: true }), Plot.text(rows, { fx: 'iteration', x: 'kind', y: 'count', text: (d) => String(Math.round(d.count)), dy: -7, fontSize: 9 }), Plot.ruleY([0])],
    }),
  'No training data yet: it is built after the first iteration\'s searches.',
);
if (data.invalid.length > 0) {
  chart(volumes, data.invalid, (rows) =>
    Plot.plot({
      width: WIDTH / 2,
      height: 220,
      x: { label: 'iteration', type: 'band' },
      y: { label: 'invalid steps in SFT data (%)', domain: [0, Math.max(5, ...rows.map((d) => d.share * 100))], grid: true },
      marks: [
        Plot.barY(rows, { x: 'iteration', y: (d) => d.share * 100, fill: '#c44' }),
        Plot.text(rows, { x: 'iteration', y: (d) => d.share * 100, text: (d) => percent(d.share), dy: -7 }),
        Plot.ruleY([0]),
      ],
    }),
  );
}

chart(
  section('monitors', 'Exploration (B-STaR monitors)', 'Over each iteration\'s training searches: pass@k (a correct answer among k sampled ones), distinct correct answers per problem, and how well the reward separates correct from wrong answers. Falling values mean the search is collapsing onto what the policy already does.'),
  data.monitors,
  (rows) => seriesPlot(rows, 'monitor', { label: 'value', domain: [0, Math.max(1, ...rows.map((d) => d.value))] }),
  'No monitors yet: they are measured when an iteration\'s data is built.',
);

chart(
  section('learning', 'What the policy learns from', 'Over each iteration\'s training searches: the mean reward of a finished path (1 right, 0 wrong), frac_reward_zero_std (the share of problems whose paths all share one reward: no group or tree advantage), the mean |advantage| of the policy-gradient rows and the generated tokens of a path; from the trainer (grpo and tree objectives): the entropy of the next-token distributions it trained, the KL from the model it started from and the share of tokens the clip stopped. Each on its own scale.'),
  data.learning,
  (rows) =>
    Plot.plot({
      width: WIDTH,
      height: 120 * new Set(rows.map((d) => d.monitor)).size,
      x: { label: 'iteration', tickFormat: 'd' },
      y: { label: null, grid: true },
      fy: { label: null },
      facet: { data: rows, y: 'monitor', marginRight: 170 },
      marks: [Plot.frame({ stroke: '#ddd' }), Plot.line(rows, { x: 'iteration', y: 'value', stroke: '#4269d0' }), Plot.dot(rows, { x: 'iteration', y: 'value', fill: '#4269d0', tip: true })],
    }),
  'No learning monitors yet: they are measured when an iteration\'s data is built.',
);

chart(
  section('time', 'Time per stage', 'Minutes each stage took per iteration, every attempt counted (a retried or resumed activity cost its time too); iteration 0 prepares the base models.'),
  data.stages,
  (rows) => {
    const totals = d3.rollups(rows, (group) => d3.sum(group, (d) => d.minutes), (d) => d.iteration).map(([iteration, minutes]) => ({ iteration, minutes }));
    return Plot.plot({
      width: WIDTH,
      height: 300,
      x: { label: 'iteration', type: 'band' },
      y: { label: 'minutes', grid: true },
      color: { legend: true, domain: [...new Set(rows.map((d) => d.stage))] },
      marks: [
        Plot.barY(rows, { x: 'iteration', y: 'minutes', fill: 'stage', tip: { format: { y: (v) => v.toFixed(2) } } }),
        Plot.text(totals, { x: 'iteration', y: 'minutes', text: (d) => `${d.minutes.toFixed(1)} min`, dy: -8 }),
        Plot.ruleY([0]),
      ],
    });
  },
  'No activity has run yet.',
);

{
  const lineage = section('lineage', 'Models', 'Every model of the run: what it was trained from (parent), in which iteration, its file and sha256, and its training metrics. The policy promotion kept is marked best.');
  const table = document.createElement('table');
  table.innerHTML = '<thead><tr><th>id</th><th>kind</th><th>iteration</th><th>parent</th><th>file</th><th>sha256</th><th>training</th></tr></thead>';
  const body = table.createTBody();
  for (const model of data.models) {
    const row = body.insertRow();
    const metrics = Object.entries(model.metrics)
      .map(([key, value]) => `${key} ${typeof value === 'number' ? +value.toPrecision(4) : value}`)
      .join(', ');
    for (const text of [`#${model.id}`, model.kind + (model.best ? ' (best)' : ''), model.iteration, model.parent === null ? '—' : `#${model.parent}`, model.path, `${model.sha256.slice(0, 12)}…`, metrics || '—']) {
      row.insertCell().textContent = String(text);
    }
    row.cells[5].title = model.sha256;
    if (model.best) row.className = 'best';
  }
  lineage.append(table);
}

// The tree explorer.
const explorer = section(
  'trees',
  'Search trees',
  `Choose an iteration and a problem (up to ${data.treesPerIteration} searches per iteration are kept here, spread over the levels; \`arbor tree\` prints any other). Nodes are coloured by their value and sized by visits; the ring says whether an end node's answer is right (green) or wrong (red). Thick orange links are the paths kept as SFT rows; green and red halos are the chosen and rejected steps of preference pairs. Hover a node for its numbers; click it to open or close its children and to see its path.`,
);
const controls = document.createElement('div');
controls.className = 'controls';
explorer.append(controls);
function select(label, id) {
  const wrapper = document.createElement('label');
  wrapper.textContent = `${label} `;
  const element = document.createElement('select');
  element.id = id;
  wrapper.append(element);
  controls.append(wrapper);
  return element;
}
const iterationSelect = select('iteration', 'tree-iteration');
const problemSelect = select('problem', 'tree-problem');
const sftSelect = select('SFT row', 'tree-sft');
const valueColor = d3.scaleSequential(d3.interpolateViridis).domain([0, 1]);
const legend = document.createElement('div');
legend.className = 'chart legend';
legend.append(Plot.legend({ color: { type: 'sequential', scheme: 'viridis', domain: [0, 1], label: 'node value' } }));
explorer.append(legend);
const canvas = document.createElement('div');
canvas.className = 'tree';
explorer.append(canvas);
const detail = document.createElement('div');
detail.id = 'node-detail';
detail.textContent = 'Click a node to see its path.';
explorer.append(detail);
const tooltip = document.createElement('div');
tooltip.className = 'tooltip';
document.body.append(tooltip);

const state = { tree: null, expanded: new Set(), selected: null };
const treesOf = (iteration) => data.trees.filter((tree) => tree.iteration === iteration);
const short = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);
const fixed = (value) => (value === null ? '—' : value.toFixed(3));

function option(element, value, text) {
  const item = document.createElement('option');
  item.value = String(value);
  item.textContent = text;
  element.append(item);
}

function nodesOf(tree) {
  return tree.nodes.map(([index, parent, step, visits, value, prm, target, correct, nodeState, answer]) => ({ index, parent, step, visits, value, prm, target, correct, state: nodeState, answer }));
}

function pathTo(nodes, index) {
  const byIndex = new Map(nodes.map((node) => [node.index, node]));
  const path = [];
  for (let node = byIndex.get(index); node !== undefined; node = node.parent === null ? undefined : byIndex.get(node.parent)) path.unshift(node);
  return path;
}

function showDetail(node) {
  const nodes = nodesOf(state.tree);
  const path = pathTo(nodes, node.index);
  const rows = state.tree.sft.filter(([, index]) => index === node.index).map(([id]) => `#${id}`);
  detail.innerHTML = '';
  const heading = document.createElement('h3');
  heading.textContent = `search #${state.tree.search} · node ${node.index} · visits ${node.visits} · value ${fixed(node.value)} · PRM ${fixed(node.prm)} · value target ${fixed(node.target)}${node.answer === null ? '' : ` · answer ${node.answer} ${node.correct === 1 ? '✓' : '✗'}`}${rows.length > 0 ? ` · SFT row ${rows.join(', ')}` : ''}`;
  const question = document.createElement('p');
  question.textContent = `Q: ${state.tree.question}`;
  const steps = document.createElement('ol');
  for (const step of path.slice(1)) {
    const item = document.createElement('li');
    item.textContent = step.step;
    if (step.index === node.index) item.className = 'selected';
    steps.append(item);
  }
  detail.append(heading, question, steps);
}

function drawTree() {
  const tree = state.tree;
  canvas.innerHTML = '';
  if (tree === null) return;
  const nodes = nodesOf(tree);
  const sftPath = new Set(tree.sft.flatMap(([, index]) => pathTo(nodes, index).map((node) => node.index)));
  const chosen = new Set(tree.pairs.map(([, index]) => index));
  const rejected = new Set(tree.pairs.map(([, , index]) => index));
  const root = d3
    .stratify()
    .id((node) => String(node.index))
    .parentId((node) => (node.parent === null ? null : String(node.parent)))(nodes);
  root.sort((a, b) => b.data.visits - a.data.visits || a.data.index - b.data.index);
  // Closed nodes keep their children aside; the layout sees only what is open.
  root.each((node) => {
    node.hidden = node.children ?? null;
    if (!state.expanded.has(node.data.index)) node.children = undefined;
  });
  const layout = d3.tree().nodeSize([30, 190]);
  layout(root);
  let top = Infinity;
  let bottom = -Infinity;
  let right = 0;
  root.each((node) => {
    top = Math.min(top, node.x);
    bottom = Math.max(bottom, node.x);
    right = Math.max(right, node.y);
  });
  const svg = d3
    .create('svg')
    .attr('width', right + 360)
    .attr('height', bottom - top + 60)
    .attr('viewBox', [-30, top - 30, right + 360, bottom - top + 60]);
  svg
    .append('g')
    .selectAll('path')
    .data(root.links())
    .join('path')
    .attr('class', (link) => (sftPath.has(link.target.data.index) ? 'link sft' : 'link'))
    .attr(
      'd',
      d3
        .linkHorizontal()
        .x((node) => node.y)
        .y((node) => node.x),
    );
  const node = svg
    .append('g')
    .selectAll('g')
    .data(root.descendants())
    .join('g')
    .attr('class', 'node')
    .attr('data-index', (d) => d.data.index)
    .attr('data-closed', (d) => String(d.hidden !== null && d.children === undefined))
    .attr('transform', (d) => `translate(${d.y},${d.x})`);
  const radius = (d) => Math.min(14, 4 + 2 * Math.sqrt(d.data.visits));
  node
    .filter((d) => chosen.has(d.data.index) || rejected.has(d.data.index))
    .append('circle')
    .attr('class', (d) => (chosen.has(d.data.index) ? 'halo chosen' : 'halo rejected'))
    .attr('r', (d) => radius(d) + 5);
  node
    .append('circle')
    .attr('r', radius)
    .attr('fill', (d) => valueColor(d.data.value))
    .attr('class', (d) => (d.data.correct === 1 ? 'correct' : d.data.correct === 0 ? 'wrong' : ''))
    .classed('selected', (d) => d.data.index === state.selected);
  node
    .append('text')
    .attr('x', (d) => radius(d) + 4)
    .attr('dy', '0.32em')
    .text((d) => (d.data.parent === null ? 'question' : short(d.data.step, 26)) + (d.hidden !== null && d.children === undefined ? ` (+${d.hidden.length})` : ''));
  node
    .on('mouseenter', (event, d) => {
      tooltip.style.display = 'block';
      tooltip.textContent = `${d.data.parent === null ? tree.question : d.data.step}\nvisits ${d.data.visits} · value ${fixed(d.data.value)} · PRM ${fixed(d.data.prm)} · value target ${fixed(d.data.target)} · ${d.data.state}${d.data.answer === null ? '' : ` · answer ${d.data.answer} ${d.data.correct === 1 ? '✓' : '✗'}`}`;
    })
    .on('mousemove', (event) => {
      tooltip.style.left = `${event.pageX + 14}px`;
      tooltip.style.top = `${event.pageY + 14}px`;
    })
    .on('mouseleave', () => {
      tooltip.style.display = 'none';
    })
    .on('click', (event, d) => {
      if (d.hidden !== null) {
        if (state.expanded.has(d.data.index)) state.expanded.delete(d.data.index);
        else state.expanded.add(d.data.index);
      }
      state.selected = d.data.index;
      drawTree();
      showDetail(d.data);
    });
  canvas.append(svg.node());
}

/** Opens a tree with its first two levels open, and every node on the path to `focus`. */
function openTree(tree, focus) {
  state.tree = tree;
  state.selected = focus ?? null;
  const nodes = nodesOf(tree);
  state.expanded = new Set(nodes.filter((node) => node.parent === null || nodes.find((other) => other.index === node.parent)?.parent === null).map((node) => node.index));
  if (focus !== undefined) for (const node of pathTo(nodes, focus)) state.expanded.add(node.index);
  problemSelect.value = String(tree.search);
  drawTree();
  if (focus !== undefined) showDetail(nodes.find((node) => node.index === focus));
  else detail.textContent = 'Click a node to see its path.';
}

function fillIteration(iteration) {
  iterationSelect.value = String(iteration);
  problemSelect.innerHTML = '';
  sftSelect.innerHTML = '';
  const trees = treesOf(iteration).sort((a, b) => (a.level ?? 0) - (b.level ?? 0) || a.search - b.search);
  for (const tree of trees) option(problemSelect, tree.search, `#${tree.search} · ${data.levelName} ${tree.level ?? '?'} · ${tree.correct === true ? '✓' : tree.correct === false ? '✗' : '—'} · ${short(tree.question, 60)}`);
  option(sftSelect, '', trees.some((tree) => tree.sft.length > 0) ? 'open an SFT row\'s node…' : 'no SFT rows among these trees');
  for (const tree of trees) for (const [id, index] of tree.sft) option(sftSelect, id, `#${id} · search #${tree.search} node ${index}`);
  return trees;
}

/** Opens the node an SFT row ends at (its lineage), if its tree is in the report. */
function openSft(id) {
  const tree = data.trees.find((candidate) => candidate.sft.some(([row]) => row === id));
  if (tree === undefined) return false;
  fillIteration(tree.iteration);
  sftSelect.value = String(id);
  openTree(tree, tree.sft.find(([row]) => row === id)[1]);
  return true;
}

const iterations = [...new Set(data.trees.map((tree) => tree.iteration))].sort((a, b) => a - b);
if (iterations.length === 0) {
  canvas.textContent = 'No search trees yet: the first iteration is still searching.';
} else {
  for (const iteration of iterations) option(iterationSelect, iteration, `${iteration} (${treesOf(iteration).length} of ${data.searches.find((row) => row.iteration === iteration)?.count ?? '?'} searches)`);
  // An iteration opens at its largest tree: the one with the most to see.
  const largest = (trees) => trees.reduce((a, b) => (b.nodes.length > a.nodes.length ? b : a));
  iterationSelect.addEventListener('change', () => openTree(largest(fillIteration(Number(iterationSelect.value)))));
  problemSelect.addEventListener('change', () => openTree(data.trees.find((tree) => tree.search === Number(problemSelect.value))));
  sftSelect.addEventListener('change', () => sftSelect.value !== '' && openSft(Number(sftSelect.value)));
  // report.html#sft=ID opens the node SFT row ID ends at.
  const openLinked = () => {
    const linked = /^#sft=(\d+)$/.exec(location.hash);
    return linked !== null && openSft(Number(linked[1]));
  };
  window.addEventListener('hashchange', openLinked);
  if (!openLinked()) openTree(largest(fillIteration(iterations.at(-1))));
}
