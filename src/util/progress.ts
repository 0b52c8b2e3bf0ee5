/**
 * Progress for batches of runs: a redrawn bar with counts and an ETA when stderr is a terminal, plain lines
 * otherwise (logs, CI, pipes). Colour only on a terminal and never when NO_COLOR is set (no-color.org).
 */
export interface ProgressReporter {
  start(total: number): void;
  begin(label: string): void;
  detail(line: string): void;
  /** A line printed even when not verbose (e.g. that a run is waiting for another process). */
  note(line: string): void;
  end(label: string, message: string, ok: boolean): void;
  finish(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Print nothing (e.g. with --json, where stdout carries the result). */
  quiet?: boolean;
  /** Also print per-epoch detail lines. */
  verbose?: boolean;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  return m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

export function createProgress(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { start() {}, begin() {}, detail() {}, note() {}, end() {}, finish() {} };
  const tty = Boolean(stream.isTTY);
  const color = tty && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  let total = 0;
  let done = 0;
  let started = 0;
  let current = '';
  const bar = () => {
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const elapsed = (Date.now() - started) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ETA ${formatSeconds(eta)} ${current}`;
    const columns = stream.columns ?? 100;
    stream.write(`\r\x1b[2K${text.slice(0, columns - 1)}`);
  };
  return {
    start(n) {
      total = n;
      done = 0;
      started = Date.now();
      if (tty) bar();
    },
    begin(label) {
      current = label;
      if (tty) bar();
      else stream.write(`start ${label}\n`);
    },
    detail(line) {
      if (!options.verbose) return;
      if (tty) stream.write(`\r\x1b[2K  ${line}\n`);
      else stream.write(`  ${line}\n`);
      if (tty) bar();
    },
    note(line) {
      stream.write(tty ? `\r\x1b[2K  ${line}\n` : `  ${line}\n`);
      if (tty) bar();
    },
    end(label, message, ok) {
      done++;
      const line = `[${done}/${total}] ${label}: ${ok ? message : paint(31, message)}`;
      if (tty) {
        stream.write(`\r\x1b[2K${line}\n`);
        bar();
      } else {
        stream.write(`${line}\n`);
      }
    },
    finish() {
      if (tty) stream.write(`\r\x1b[2K${paint(32, `${done}/${total} runs in ${formatSeconds((Date.now() - started) / 1000)}`)}\n`);
      else stream.write(`${done}/${total} runs in ${formatSeconds((Date.now() - started) / 1000)}\n`);
    },
  };
}
