/**
 * bench/trainer: training throughput (tokens/s) and peak RSS of Arbor's native trainer
 * (native/build/arbor-trainer) against llama.cpp's own `llama-finetune`, built from the same bundled
 * llama.cpp source and linked against the same prebuilt ggml libraries (bench/build-finetune.sh).
 * Same model file, same text, same context, same threads, same number of training tokens, both
 * measured in this run. See bench/README.md.
 *
 *   npm run bench:trainer -- [--threads N] [--windows N] [--batch N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readGgufFileInfo } from 'node-llama-cpp';
import { encodeArbtokExample, writeArbtok, type ArbtokExample } from '../train/arbtok.ts';
import { createRng } from '../tasks/random.ts';
import { loadTrainingTokenizer } from '../train/tokenizer.ts';
import { initModel, trainerEventSchema } from '../train/trainer.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = join(ROOT, 'native/build');
const TRAINER_BIN = join(BUILD_DIR, 'arbor-trainer');
const FINETUNE_BIN = join(BUILD_DIR, 'llama-finetune');
const PLATFORM = `${process.platform}-${process.arch}`;
/** llama-finetune finds its CPU backend with ggml_backend_load_all(), which searches the cwd: run it there. */
const PREBUILT_DIR = join(ROOT, 'node_modules/@node-llama-cpp', PLATFORM, 'bins', PLATFORM);

const VOCAB_CHARS = '0123456789+-*() QA:\n';
const MODEL = { dim: 256, layers: 4, heads: 8, kvHeads: 8, ffn: 768, ctx: 256 };
const LEARNING_RATE = 1e-3;
const SEED = 1;
const POLL_MS = 20;

interface BenchOptions {
  threads: number;
  /** Context windows llama-finetune trains on (one per optimizer step); sets the token budget. */
  windows: number;
  /** Sequences per arbor-trainer step. */
  batch: number;
}

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: String(availableParallelism()) },
      windows: { type: 'string', default: '192' },
      batch: { type: 'string', default: '16' },
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
  };
  // Both trainers must process the same tokens: arbor-trainer's steps × batch = llama-finetune's windows.
  if (options.windows % options.batch !== 0) throw new Error(`--windows (${options.windows}) must be a multiple of --batch (${options.batch})`);
  return options;
}

function ensureBuilt(binary: string, script: string): void {
  if (existsSync(binary)) return;
  const result = spawnSync('bash', [join(ROOT, script)], { stdio: 'inherit' });
  if (result.status !== 0 || !existsSync(binary)) throw new Error(`${script} did not build ${binary}`);
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

async function main(): Promise<void> {
  const options = parseOptions();
  ensureBuilt(TRAINER_BIN, 'native/build.sh');
  ensureBuilt(FINETUNE_BIN, 'bench/build-finetune.sh');

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
    console.log(`RESULT trainer_tok_s=${trainerTokS.toFixed(1)} finetune_tok_s=${finetuneTokS.toFixed(1)} ratio=${(trainerTokS / finetuneTokS).toFixed(2)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
