/**
 * bench/trainer: training throughput (tokens/s) and peak RSS of Arbor's native trainer
 * (native/build/arbor-trainer) against llama.cpp's own `llama-finetune`, built from the same bundled
 * llama.cpp source and linked against the same prebuilt ggml libraries (bench/build-llama-tool.sh finetune).
 * Same model file, same text, same context, same threads, same number of training tokens, both
 * measured in this run. Then, in the same run: ggml's own large F32 matrix multiply (the reference for
 * model FLOP utilisation), the micro model's recipe on one thread, and a rank-16 LoRA on a Q8_0 model
 * with Qwen2.5-0.5B's shapes. See bench/README.md.
 *
 *   npm run bench:trainer -- [--threads N] [--windows N] [--batch N] [--no-lora]
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { z } from 'zod';
import { encodeArbtokExample, writeArbtok, type ArbtokExample } from '../train/arbtok.ts';
import { loadTask } from '../tasks/index.ts';
import { createRng } from '../tasks/random.ts';
import { MICRO_RECIPE, microTrainingProblems, writeSolutionsJsonl } from '../train/micro-model.ts';
import { gsm8kLmText, readGsm8k, STANDIN_SOURCES } from '../train/standin-model.ts';
import { loadTrainingTokenizer } from '../train/tokenizer.ts';
import { initModel, prepareTrainingData, runTrainer, trainerBinaryPath, trainerEventSchema } from '../train/trainer.ts';
import { halfBModel } from './half-b.ts';
import { ensureBuilt, prebuiltDir } from './llama-tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = join(ROOT, 'native/build');
const TRAINER_BIN = join(BUILD_DIR, 'arbor-trainer');
const FINETUNE_BIN = join(BUILD_DIR, 'llama-finetune');
const PREBUILT_DIR = prebuiltDir();

const VOCAB_CHARS = '0123456789+-*() QA:\n';
const MODEL = { dim: 256, layers: 4, heads: 8, kvHeads: 8, ffn: 768, ctx: 256 };
const LEARNING_RATE = 1e-3;
const SEED = 1;
const POLL_MS = 20;
/** Steps of the micro recipe timed (400, as the reference measurement before OpenBLAS: bench/README.md). */
const MICRO_STEPS = 400;

interface BenchOptions {
  threads: number;
  /** Context windows llama-finetune trains on (one per optimizer step); sets the token budget. */
  windows: number;
  /** Sequences per arbor-trainer step. */
  batch: number;
  /** Run the 0.5B-shaped LoRA measurement (minutes, ~3 GB of temporary files). */
  lora: boolean;
}

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: String(availableParallelism()) },
      windows: { type: 'string', default: '192' },
      batch: { type: 'string', default: '1' },
      'no-lora': { type: 'boolean', default: false },
    },
  });
  const positive = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${text}`);
    return value;
  };
  const options = {
    threads: positive('threads', values.threads),
    windows: positive('windows', values.windows),
    batch: positive('batch', values.batch),
    lora: !values['no-lora'],
  };
  // Both trainers must process the same tokens: arbor-trainer's steps × batch = llama-finetune's windows.
  if (options.windows % options.batch !== 0) throw new Error(`--windows (${options.windows}) must be a multiple of --batch (${options.batch})`);
  return options;
}


function applyOperator(operator: string, left: number, right: number): number {
  if (operator === '+') return left + right;
  if (operator === '-') return left - right;
  return left * right;
}

/** At least `length` characters of `Q: 12-7*3\nA: -9\n`-style lines (only VOCAB_CHARS), the same for a seed. */
function arithmeticText(length: number, seed: number): string {
  const rng = createRng(seed);
  const lines: string[] = [];
  let size = 0;
  while (size < length) {
    const [a, b, c] = [rng.int(0, 99), rng.int(0, 99), rng.int(0, 9)];
    const operator = rng.pick(['+', '-', '*']);
    const line =
      rng.next() < 0.5
        ? `Q: ${a}${operator}${b}*${c}\nA: ${applyOperator(operator, a, b * c)}\n`
        : `Q: (${a}${operator}${b})*${c}\nA: ${applyOperator(operator, a, b) * c}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

/** Non-overlapping `ctx`-token sequences of `tokens`, every position a target (its next token), weight 1. */
function lmSequences(tokens: readonly number[], ctx: number): ArbtokExample[] {
  const examples: ArbtokExample[] = [];
  // The last position's target is the token after the sequence, so one token must follow it.
  for (let start = 0; start + ctx < tokens.length; start += ctx) {
    examples.push({
      tokens: tokens.slice(start, start + ctx),
      targets: tokens.slice(start + 1, start + ctx + 1).map((token, pos) => ({ pos, token, weight: 1 })),
    });
  }
  return examples;
}

interface RunMeasure {
  /** Seconds from the first to the last progress report. */
  seconds: number;
  /** Tokens trained between those two reports. */
  tokens: number;
  /** CPU seconds (user + system) the process used between those two reports. */
  cpuSeconds: number;
  wallSeconds: number;
  peakRssMb: number;
  maxThreads: number;
  /** The ggml CPU backend libraries mapped into the process during training. */
  cpuBackends: string[];
  stdoutLines: string[];
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU seconds of a live process (/proc/PID/stat fields 14 and 15). */
function cpuSecondsOf(pid: number): number {
  // Fields are counted after the command name, which is in parentheses and may contain spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Runs a trainer, timestamping its progress reports (`progressOf` reads the count of steps done
 * from a stdout/stderr line, if it is a report; `\r` ends a line too: llama-finetune redraws a
 * progress bar) and polling /proc/PID/status every
 * POLL_MS for the high-water RSS (VmHWM) and the thread count.
 */
async function measure(
  binary: string,
  args: string[],
  cwd: string,
  progressOf: (line: string) => number | undefined,
  tokensPerStep: number,
): Promise<RunMeasure> {
  const started = performance.now();
  const child = spawn(binary, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${binary}`);
  const reports: { step: number; time: number; cpuSeconds: number }[] = [];
  const stdoutLines: string[] = [];
  const stderrTail: string[] = [];
  let cpuBackends: string[] = [];
  // An error here (an unreadable report) stops the trainer and is rethrown once it has exited.
  let lineError: unknown;
  const onLine = (line: string): void => {
    if (lineError !== undefined) return;
    try {
      const step = progressOf(line);
      if (step === undefined) return;
      reports.push({ step, time: performance.now(), cpuSeconds: cpuSecondsOf(pid) });
      if (reports.length === 1) cpuBackends = cpuBackendsOf(pid);
    } catch (error) {
      lineError = error;
      child.kill('SIGTERM');
    }
  };
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    stdoutLines.push(line);
    onLine(line);
  });
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const parts = (pending + chunk).split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const line of parts) {
      onLine(line);
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    }
  });

  let peakRssKb = 0;
  let maxThreads = 0;
  const poll = setInterval(() => {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return; // exited between polls
    }
    peakRssKb = Math.max(peakRssKb, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0));
    maxThreads = Math.max(maxThreads, Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0));
  }, POLL_MS);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).finally(() => clearInterval(poll));
  const wallSeconds = (performance.now() - started) / 1000;

  if (lineError !== undefined) throw lineError;
  if (exitCode !== 0) {
    throw new Error(`${binary} exited with ${exitCode}:\n${[...stderrTail, pending].filter((line) => line.trim() !== '').join('\n')}`);
  }
  const first = reports[0];
  const last = reports.at(-1);
  if (first === undefined || last === undefined || reports.length < 2) {
    throw new Error(`${binary} printed ${reports.length} progress reports, need at least 2 to time training`);
  }
  return {
    seconds: (last.time - first.time) / 1000,
    tokens: (last.step - first.step) * tokensPerStep,
    cpuSeconds: last.cpuSeconds - first.cpuSeconds,
    wallSeconds,
    peakRssMb: peakRssKb / 1024,
    maxThreads,
    cpuBackends,
    stdoutLines,
  };
}

/** Which libggml-cpu-*.so variants a live process has loaded (/proc/PID/maps). */
function cpuBackendsOf(pid: number): string[] {
  return [...new Set(readFileSync(`/proc/${pid}/maps`, 'utf8').match(/libggml-cpu[\w-]*\.so/g) ?? [])];
}

function tokensPerSecond(run: RunMeasure): number {
  return run.tokens / run.seconds;
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');

function describeRun(name: string, run: RunMeasure, timedPart: string): string {
  return (
    `${name}: ${tokensPerSecond(run).toFixed(1)} tok/s (${integer(run.tokens)} tokens in ${run.seconds.toFixed(2)} s, ${timedPart}; ` +
    `${(run.cpuSeconds / run.seconds).toFixed(2)} cores busy), peak RSS ${run.peakRssMb.toFixed(1)} MB, ` +
    `up to ${run.maxThreads} OS threads, backend ${run.cpuBackends.join(', ') || 'none found'}, wall ${run.wallSeconds.toFixed(1)} s`
  );
}

const gemmEventSchema = z.object({ event: z.literal('gemm'), gflop_s: z.number() });

/** GFLOP/s of ggml's own F32 matrix multiply (1024³, `threads` threads) on this machine, now; `asTrained`: the trainer's (OpenBLAS). */
function gemmGflops(threads: number, asTrained: boolean): number {
  const args = ['gemm', '--m', '1024', '--n', '1024', '--k', '1024', '--repeat', '20', '--threads', String(threads), ...(asTrained ? ['--as-trained'] : [])];
  const result = spawnSync(trainerBinaryPath(), args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`arbor-trainer gemm failed: ${result.stderr}`);
  return gemmEventSchema.parse(JSON.parse(result.stdout)).gflop_s;
}

/**
 * Model FLOPs per trained token as in the PaLM paper (appendix B): 6·N + 12·L·H·Q·T, N = the
 * parameters of every matrix product (the input embedding is a lookup, not a product), T = context.
 */
function modelFlopsPerToken(model: typeof MODEL, vocab: number): number {
  const kv = (model.dim / model.heads) * model.kvHeads;
  const perLayer = 2 * model.dim * model.dim + 2 * model.dim * kv + 3 * model.dim * model.ffn;
  const matrices = model.layers * perLayer + model.dim * vocab;
  return 6 * matrices + 12 * model.layers * model.dim * model.ctx;
}

/** The micro model's own recipe (model, data, batch, optimizer) for `steps` steps on one thread. */
async function microTokensPerSecond(work: string, steps: number): Promise<{ tokS: number; loss: number }> {
  const dir = join(work, 'micro');
  const recipe = MICRO_RECIPE;
  const vocab = join(dir, 'vocab.txt');
  await mkdir(dir, { recursive: true });
  await writeFile(vocab, loadTask({ kind: 'arithmetic' }).characters ?? '');
  const initial = join(dir, 'init.gguf');
  await initModel({ vocabChars: vocab, out: initial, seed: recipe.seed, name: 'arbor-micro', ...recipe.model });
  await writeSolutionsJsonl(microTrainingProblems(recipe), join(dir, 'sft.jsonl'));
  const prepared = await prepareTrainingData({ model: initial, objective: 'sft', data: join(dir, 'sft.jsonl'), valFraction: 0.03, seed: recipe.seed, outDir: dir });
  const done = await runTrainer({
    model: initial, data: prepared.train.path, out: join(dir, 'out.gguf'), objective: 'sft', seed: recipe.seed, threads: 1, clip: 1,
    ...recipe.train, steps, logEvery: steps,
  });
  return { tokS: done.tok_s, loss: done.loss };
}

/** A rank-16 LoRA for 20 steps on a random Q8_0 model of Qwen2.5-0.5B's shapes (bench/half-b.ts), on GSM8K text. */
async function loraScaleCheck(work: string, threads: number): Promise<{ tokS: number; peakRssMb: number; params: number }> {
  const dir = join(work, 'half-b');
  const q8 = (await halfBModel(dir, SEED)).path;
  const rows = (await readGsm8k(STANDIN_SOURCES.gsm8kTrain)).slice(0, 80);
  await writeFile(join(dir, 'sft.jsonl'), rows.map((row) => JSON.stringify({ prompt: '', completion: gsm8kLmText(row) })).join('\n'));
  const prepared = await prepareTrainingData({ model: q8, objective: 'sft', data: join(dir, 'sft.jsonl'), outDir: dir });
  const done = await runTrainer({ model: q8, data: prepared.train.path, out: join(dir, 'adapter.gguf'), objective: 'sft', steps: 20, batch: 4, lr: 1e-4, threads, loraRank: 16, logEvery: 5 });
  const params = await adapterParams(join(dir, 'adapter.gguf'));
  console.log(`lora: Q8_0 model of Qwen2.5-0.5B's shapes (${prepared.train.examples} GSM8K examples, ${prepared.train.tokens} tokens), rank 16 on every layer matrix (${integer(params)} trainable parameters), 20 steps × 4 sequences, ${threads} threads: ${done.tok_s.toFixed(1)} tok/s, peak RSS ${done.peak_rss_mb.toFixed(0)} MB, last loss ${done.loss.toFixed(3)}`);
  return { tokS: done.tok_s, peakRssMb: done.peak_rss_mb, params };
}

async function adapterParams(path: string): Promise<number> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  return (info.fullTensorInfo ?? []).reduce((sum, tensor) => sum + tensor.dimensions.reduce<number>((size, dim) => size * Number(dim), 1), 0);
}

async function main(): Promise<void> {
  const options = parseOptions();
  ensureBuilt(TRAINER_BIN, 'native/build.sh');
  ensureBuilt(FINETUNE_BIN, 'bench/build-llama-tool.sh', 'finetune');

  const work = await mkdtemp(join(tmpdir(), 'arbor-bench-trainer-'));
  try {
    const vocabPath = join(work, 'vocab.txt');
    const modelPath = join(work, 'model.gguf');
    await writeFile(vocabPath, VOCAB_CHARS);
    await initModel({ vocabChars: vocabPath, out: modelPath, seed: SEED, ...MODEL });
    const info = await readGgufFileInfo(modelPath, { logWarnings: false });
    const params = (info.fullTensorInfo ?? []).reduce(
      (sum, tensor) => sum + tensor.dimensions.reduce<number>((size, dim) => size * Number(dim), 1),
      0,
    );

    // Tokenized by llama.cpp through node-llama-cpp, as llama-finetune tokenizes its text.
    const tokenizer = await loadTrainingTokenizer(modelPath);
    const { ctx } = MODEL;
    const stride = ctx / 2;
    // llama-finetune cuts [BOS] + tokens into ctx-token windows every ctx/2 tokens:
    // windows = floor((tokens − ctx − 1) / stride), so this many tokens give exactly `windows`.
    const tokenCount = options.windows * stride + ctx + 1;
    let text: string;
    let tokens: number[];
    try {
      const prefix = tokenizer.bos === null ? [] : [tokenizer.bos];
      // One token per character: the vocabulary is VOCAB_CHARS.
      text = arithmeticText(tokenCount, SEED).slice(0, tokenCount - prefix.length);
      tokens = [...prefix, ...tokenizer.tokenize(text)];
    } finally {
      await tokenizer.dispose();
    }
    if (tokens.length !== tokenCount) throw new Error(`expected ${tokenCount} tokens (one per character, plus BOS), got ${tokens.length}`);

    // llama-finetune's --file reader drops one trailing newline: add one so it reads exactly `text`.
    const textPath = join(work, 'corpus.txt');
    await writeFile(textPath, `${text}\n`);
    const arbtokPath = join(work, 'corpus.arbtok');
    const sequences = lmSequences(tokens, ctx);
    await writeArbtok(arbtokPath, sequences.map(encodeArbtokExample));

    const steps = options.windows / options.batch;
    const threads = String(options.threads);
    const trainerArgs = [
      'train', '--model', modelPath, '--data', arbtokPath, '--out', join(work, 'arbor-out.gguf'), '--objective', 'lm',
      '--steps', String(steps), '--batch', String(options.batch), '--lr', String(LEARNING_RATE),
      '--threads', threads, '--seed', String(SEED), '--log-every', '1',
    ];
    // -b = -ub = ctx: llama-finetune trains one window per optimizer step; -val-split 0: no validation pass.
    const finetuneArgs = [
      '-m', modelPath, '-f', textPath, '-o', join(work, 'finetune-out.gguf'), '-c', String(ctx), '-b', String(ctx),
      '-ub', String(ctx), '-t', threads, '-epochs', '1', '-val-split', '0', '-lr', String(LEARNING_RATE), '-opt', 'adamw',
    ];

    console.log(
      `setup: model ${integer(params)} params (llama, dim ${MODEL.dim}, ${MODEL.layers} layers, ${MODEL.heads} heads, ` +
        `ffn ${MODEL.ffn}, vocab ${info.metadata.tokenizer.ggml.tokens.length}), ctx ${ctx}, threads ${threads}, ` +
        `${integer(options.windows * ctx)} training tokens each, AdamW lr ${LEARNING_RATE}`,
    );
    console.log(
      `data: ${integer(text.length)} chars of arithmetic text; llama-finetune: ${options.windows} windows of ${ctx} tokens every ` +
        `${stride}, 1 window per step; arbor-trainer: ${sequences.length} sequences of ${ctx}, ${steps} steps × ${options.batch}`,
    );
    console.log(`arbor-trainer command: ${TRAINER_BIN} ${trainerArgs.join(' ')}`);
    console.log(`llama-finetune command (cwd ${PREBUILT_DIR}): ${FINETUNE_BIN} ${finetuneArgs.join(' ')}`);

    console.log(`load average before arbor-trainer: ${loadavg()[0]?.toFixed(2)}`);
    const arborStep = (line: string): number | undefined => {
      const event = trainerEventSchema.parse(JSON.parse(line));
      return event.event === 'step' ? event.step : undefined;
    };
    const arbor = await measure(TRAINER_BIN, trainerArgs, work, arborStep, options.batch * ctx);
    console.log(`load average before llama-finetune: ${loadavg()[0]?.toFixed(2)}`);
    const finetuneWindow = (line: string): number | undefined => {
      const windowsDone = /^train: .*\bdata=(\d+)\//.exec(line)?.[1];
      return windowsDone === undefined ? undefined : Number(windowsDone);
    };
    const finetune = await measure(FINETUNE_BIN, finetuneArgs, PREBUILT_DIR, finetuneWindow, ctx);

    const events = arbor.stdoutLines.map((line) => trainerEventSchema.parse(JSON.parse(line)));
    const lastStep = events.findLast((event) => event.event === 'step');
    const done = events.find((event) => event.event === 'done');
    console.log(
      `${describeRun('arbor-trainer', arbor, `steps 2..${steps}`)}; its own report: ` +
        `${lastStep?.tok_s.toFixed(1) ?? '?'} tok/s over all steps, peak RSS ${done?.peak_rss_mb.toFixed(1) ?? '?'} MB`,
    );
    console.log(describeRun('llama-finetune', finetune, `windows 2..${options.windows}`));
    const trainerTokS = tokensPerSecond(arbor);
    const finetuneTokS = tokensPerSecond(finetune);
    const rssRatio = arbor.peakRssMb / finetune.peakRssMb;

    const gemm = gemmGflops(options.threads, false);
    const blas = gemmGflops(options.threads, true);
    const flopsPerToken = modelFlopsPerToken(MODEL, info.metadata.tokenizer.ggml.tokens.length);
    const modelGflops = (flopsPerToken * trainerTokS) / 1e9;
    const mfu = modelGflops / gemm;
    console.log(
      `mfu: ${integer(flopsPerToken)} model FLOPs per token (PaLM: 6·N + 12·L·H·Q·T) × ${trainerTokS.toFixed(1)} tok/s = ${modelGflops.toFixed(2)} GFLOP/s, ` +
        `against ggml's F32 matrix multiply (1024³, ${threads} threads) at ${gemm.toFixed(1)} GFLOP/s (mfu ${mfu.toFixed(3)}), and against the ` +
        `multiply the trainer uses at ${blas.toFixed(1)} GFLOP/s (${(modelGflops / blas).toFixed(3)})`,
    );
    const micro = await microTokensPerSecond(work, MICRO_STEPS);
    console.log(`micro: the micro model's recipe (${MICRO_RECIPE.model.dim} dim, ${MICRO_RECIPE.model.layers} layers, batch ${MICRO_RECIPE.train.batch}, sft), ${MICRO_STEPS} steps on 1 thread: ${micro.tokS.toFixed(1)} tok/s, loss at the last step ${micro.loss.toFixed(4)}`);
    const lora = options.lora ? await loraScaleCheck(work, options.threads) : null;
    console.log(
      `RESULT trainer_tok_s=${trainerTokS.toFixed(1)} finetune_tok_s=${finetuneTokS.toFixed(1)} ratio=${(trainerTokS / finetuneTokS).toFixed(2)} ` +
        `micro_tok_s=${micro.tokS.toFixed(0)} mfu=${mfu.toFixed(3)} rss_ratio=${rssRatio.toFixed(2)} lora_tok_s=${lora === null ? 'skipped' : lora.tokS.toFixed(1)}`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
