/**
 * Progress for batches of runs: a redrawn bar with counts, the current run's epoch and an ETA when stderr is a
 * terminal wide enough to hold it, plain lines otherwise (logs, CI, pipes, a terminal reporting 0 columns, where a
 * redrawn bar would wrap and pile up). Colour only with the bar and never when NO_COLOR is set (no-color.org).
 */
export interface ProgressReporter {
  start(total: number): void;
  begin(label: string): void;
  /** Progress inside the current run, e.g. epoch 3 of 20; drawn on the bar, silent in plain lines. */
  step(done: number, total: number, unit: string): void;
  detail(line: string): void;
  /** A line printed even when not verbose (e.g. that a run is waiting for another process). */
  note(line: string): void;
  end(label: string, message: string, ok: boolean): void;
  finish(): void;
}

/** What a progress stream needs (stderr, or a fake one in tests). */
export type ProgressStream = { write(text: string): unknown; isTTY?: boolean; columns?: number };

export interface ProgressOptions {
  stream?: ProgressStream;
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

/** Narrower terminals (and those reporting 0 columns) get plain lines: a bar that does not fit wraps and piles up. */
export const MIN_BAR_COLUMNS = 20;

export function createProgress(options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { start() {}, begin() {}, step() {}, detail() {}, note() {}, end() {}, finish() {} };
  const columns = () => (typeof stream.columns === 'number' ? stream.columns : 80);
  const tty = Boolean(stream.isTTY) && columns() >= MIN_BAR_COLUMNS;
  const color = tty && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  let total = 0;
  let done = 0;
  let started = 0;
  let current = '';
  /** The current run's own progress (epochs), as a fraction of one run. */
  let inner: { done: number; total: number; unit: string } | null = null;
  const bar = () => {
    const width = 24;
    const fraction = total > 0 ? Math.min(1, (done + (inner && inner.total > 0 ? inner.done / inner.total : 0)) / total) : 0;
    const filled = Math.round(fraction * width);
    const elapsed = (Date.now() - started) / 1000;
    const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : NaN;
    const step = inner ? ` ${inner.unit} ${inner.done}/${inner.total}` : '';
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${step} ETA ${formatSeconds(eta)} ${current}`;
    stream.write(`\r\x1b[2K${text.slice(0, columns() - 1)}`);
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
      inner = null;
      if (tty) bar();
      else stream.write(`start ${label}\n`);
    },
    step(stepDone, stepTotal, unit) {
      inner = { done: stepDone, total: stepTotal, unit };
      if (tty) bar();
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
      inner = null;
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
