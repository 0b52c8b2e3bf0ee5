/** Longest stretch of a user's value echoed in an error message; a 10 MB config string must not become a 10 MB line. */
export const MAX_ECHOED_CHARS = 200;
/** Longest error message as a whole (a long "valid:" list fits; an echoed file does not). */
const MAX_MESSAGE_CHARS = 2000;

/** Shortens every run of more than MAX_ECHOED_CHARS characters without a space or list separator (an echoed value) and the whole. */
export function capMessage(message: string): string {
  const newline = message.indexOf('\n');
  const line = newline < 0 ? message : message.slice(0, newline);
  const separator = (code: number) => code === 32 || code === 9 || code === 44 || code === 59;
  let capped = '';
  let start = 0;
  // A scan, not a regular expression: a 10 MB run would exhaust the regex engine's stack.
  for (let i = 0; i <= line.length; i++) {
    if (i < line.length && !separator(line.charCodeAt(i))) continue;
    const run = line.slice(start, i);
    capped += run.length > MAX_ECHOED_CHARS ? `${run.slice(0, MAX_ECHOED_CHARS - 1)}… (${run.length} chars)` : run;
    if (i < line.length) capped += line[i];
    start = i + 1;
    if (capped.length > MAX_MESSAGE_CHARS + 32) break;
  }
  // The slack keeps capping idempotent: a capped message passes through unchanged.
  return capped.length > MAX_MESSAGE_CHARS + 32 ? `${capped.slice(0, MAX_MESSAGE_CHARS - 1)}… (${line.length} chars)` : capped;
}

/**
 * An error caused by the user's input (an unknown name, an out-of-range value, a missing or corrupt file).
 * The CLI prints its message as one line and exits with code 2; anything else is a bug and exits 1.
 * The message is capped at construction (capMessage), so every caller echoes values safely.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(capMessage(String(message)));
    this.name = 'UserError';
  }
}

/** `unknown model "x"; valid: a, b, c` */
export function unknownChoice(what: string, value: string, valid: readonly string[]): UserError {
  return new UserError(`unknown ${what} "${value}"; valid: ${valid.length > 0 ? valid.join(', ') : 'none (the list is empty)'}`);
}

/** File-system failures caused by the machine, not by the program: a full disk, a read-only or forbidden folder. */
const ENVIRONMENT_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EMFILE: 'too many open files',
};

/** The one-line user error for a file-system failure of the environment (ENOSPC, EACCES, ...), else null. */
export function environmentError(err: unknown): UserError | null {
  const e = err as NodeJS.ErrnoException | null;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || !Object.hasOwn(ENVIRONMENT_CODES, e.code)) return null;
  const where = typeof e.path === 'string' ? ` ${e.path}` : '';
  return new UserError(`cannot ${e.syscall ?? 'write'}${where}: ${ENVIRONMENT_CODES[e.code]} (${e.code}); free space or choose a writable location`);
}
