/**
 * How the command line reports what went wrong: bad input (UsageError, exit 2; options and files
 * named) and I/O failures (one line with the OS reason and the path, exit 1).
 */
/** Bad input on the command line or in a file it names: reported as one message, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * An I/O failure as one line a user can act on, naming the path (`path` when the error carries
 * none, as SQLite's do), or null for other errors. Exit code 1: nothing was wrong with the input.
 */
export function ioErrorMessage(error: unknown, path?: string): string | null {
  const { code, path: errorPath } = (error ?? {}) as { code?: unknown; path?: unknown };
  const where = typeof errorPath === 'string' ? errorPath : path;
  const at = where === undefined ? '' : ` (${where})`;
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return `no space left on device${at}; free some space and run the same command again: the run resumes where it stopped`;
  if (code === 'EROFS' || code === 'SQLITE_READONLY') return `read-only file system${at}`;
  if (code === 'EACCES' || code === 'EPERM') return `permission denied${at}`;
  if (code === 'EIO' || code === 'SQLITE_IOERR') return `input/output error${at}`;
  return null;
}

/** `work`, with its failure (a model file that is missing or not a GGUF, say) reported as bad input. */
export async function asUsageError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw error instanceof UsageError ? error : new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** An integer option at least `min`, or a usage error naming the option. */
export function intOption(name: string, value: string, min = 0): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isInteger(parsed) || parsed < min) throw new UsageError(`--${name} must be an integer of at least ${min}, got ${JSON.stringify(value)}`);
  return parsed;
}
