/** The PyTorch reference of a case (shared/bench/torch_reference.py), run before and after the tfjs blocks (see bench.ts). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { fmt, type VariantResult } from './bench-measure.js';

export interface TorchResult {
  args: string[];
  /** The mean of the runs before and after the tfjs measurement. */
  samplesPerSec?: number;
  /** samples/s of the run before and of the run after. */
  runs?: [number, number];
  version?: string;
  /** The BLAS PyTorch ran on (torch_reference.py's "blas": openblas, mkl or reference). */
  blas?: string;
  /** Each backend's samples/s over PyTorch's; absent against the reference BLAS, which is no comparison. */
  ratios?: Record<string, number>;
  error?: string;
}

/** Runs the PyTorch reference for one case; an error message instead when it cannot run. */
export function runTorch(python: string, script: string, args: string[], samples: number, epochs: number): TorchResult {
  const full = [...args, '--threads', '1', '--samples', String(samples), '--epochs', String(epochs)];
  if (!existsSync(script)) return { args: full, error: `${script} not found` };
  const r = spawnSync(python, [script, ...full], { encoding: 'utf8', timeout: 600_000 });
  if (r.error) return { args: full, error: `${python}: ${r.error.message}` };
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const out = JSON.parse(line) as { samples_per_s: number; torch: string; blas?: string };
    return { args: full, samplesPerSec: out.samples_per_s, version: out.torch, blas: out.blas ?? 'unknown' };
  } catch {
    const why = (r.stderr.trim().split('\n').pop() ?? '').trim() || `exit ${r.status}`;
    return { args: full, error: why };
  }
}

/**
 * One case's PyTorch result from the runs before and after its tfjs blocks: their mean, and each backend's
 * throughput over it (none against the reference BLAS). Logs what it found.
 */
export function bracketTorch(before: TorchResult, after: TorchResult, results: VariantResult[], log: (line: string) => void): TorchResult {
  const torch: TorchResult = before.error ? before : after.error ? after : { ...before, runs: [before.samplesPerSec!, after.samplesPerSec!] };
  if (torch.runs) {
    torch.samplesPerSec = (torch.runs[0] + torch.runs[1]) / 2;
    if (torch.blas !== 'reference') torch.ratios = Object.fromEntries(results.map((r) => [r.variant, r.samplesPerSec / torch.samplesPerSec!]));
  }
  if (torch.error) log(`  PyTorch reference unavailable: ${torch.error}`);
  else {
    log(
      `  PyTorch ${torch.version} (1 thread, BLAS ${torch.blas}) ${fmt(torch.samplesPerSec!).padStart(8)} samples/s (before ${fmt(torch.runs![0])}, after ${fmt(torch.runs![1])})   [torch_reference.py ${torch.args.join(' ')}]`,
    );
    if (torch.ratios) log(`  over PyTorch: ${Object.entries(torch.ratios).map(([b, r]) => `${b} ${fmt(r, 2)}×`).join(', ')}`);
    else log('  no ratio: PyTorch ran on the reference BLAS, which no user runs (install libopenblas0-pthread)');
  }
  return torch;
}
