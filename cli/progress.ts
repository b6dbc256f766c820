/**
 * A terminal progress bar for long work, on stderr (stdout stays free for results). On a TTY it
 * redraws one line in place; otherwise (logs, CI) it prints a line each time another
 * `everyPercent` of the work is done, so logs stay short.
 */
export interface ProgressUpdate {
  step: number;
  steps: number;
  loss?: number;
  tokPerSec?: number;
  etaSec?: number;
}

export interface ProgressBar {
  update(progress: ProgressUpdate): void;
  /** Ends the in-place line (prints the last state when not a TTY and it was not printed yet). */
  finish(): void;
}

/** Where the bar is drawn: process.stderr, or anything with the same two members. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

const BAR_WIDTH = 24;

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function createProgressBar(label: string, options: { stream?: ProgressStream; everyPercent?: number } = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const everyPercent = options.everyPercent ?? 10;
  let lastPrintedBucket = -1;
  let pending: string | undefined;
  const render = ({ step, steps, loss, tokPerSec, etaSec }: ProgressUpdate): string => {
    const fraction = steps > 0 ? Math.min(1, step / steps) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const parts = [`${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${step}/${steps}`];
    if (loss !== undefined) parts.push(`loss ${loss.toFixed(4)}`);
    if (tokPerSec !== undefined) parts.push(`${Math.round(tokPerSec)} tok/s`);
    if (etaSec !== undefined) parts.push(`ETA ${formatDuration(etaSec)}`);
    return parts.join('  ');
  };
  return {
    update(progress) {
      const line = render(progress);
      if (stream.isTTY) {
        stream.write(`\r${line}\x1b[K`);
        return;
      }
      const bucket = progress.steps > 0 ? Math.floor((100 * progress.step) / progress.steps / everyPercent) : 0;
      if (bucket > lastPrintedBucket) {
        lastPrintedBucket = bucket;
        stream.write(`${line}\n`);
        pending = undefined;
      } else {
        pending = line;
      }
    },
    finish() {
      if (stream.isTTY) stream.write('\n');
      else if (pending !== undefined) stream.write(`${pending}\n`);
      pending = undefined;
    },
  };
}
