import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { temporarySibling } from '../util/fs.js';
import type { EpochRecord } from './trainer.js';

/**
 * Per-epoch training checkpoints in a safe format: `checkpoint.json` (plain JSON, never evaluated) and
 * `tensors.bin` (raw little-endian float32), whose SHA-256 is verified on load.
 */
export const CHECKPOINT_FORMAT = 'backdoor-checkpoint/1';
const JSON_FILE = 'checkpoint.json';
const BIN_FILE = 'tensors.bin';

export type CheckpointPolicy = 'best_last' | 'last' | 'all' | 'none';
export const CHECKPOINT_POLICIES: CheckpointPolicy[] = ['best_last', 'last', 'all', 'none'];

export interface TensorEntry {
  /** weights, best_weights, adam_m, adam_v: positional, in the model's trainableWeights() order. */
  group: 'weights' | 'best_weights' | 'adam_m' | 'adam_v';
  index: number;
  shape: number[];
  offset: number;
  length: number;
}

export interface CheckpointState {
  epoch: number;
  bestEpoch: number;
  bestValAuroc: number;
  epochsSinceBest: number;
  history: EpochRecord[];
  /** Adam's step count and its running powers beta1^(t+1), beta2^(t+1), saved as trained (not recomputed). */
  optimizer: { iterations: number; accBeta1: number; accBeta2: number; learningRate: number };
  /**
   * Shuffling and dropout draw from streams derived from (seed, purpose, epoch), so the generator state at an
   * epoch boundary is fully given by the seed and the next epoch number.
   */
  rng: { scheme: 'derived-per-epoch'; seed: string; nextEpoch: number };
  tensors: Record<TensorEntry['group'], Float32Array[]>;
  shapes: Record<TensorEntry['group'], number[][]>;
}

interface CheckpointJson {
  format: string;
  runId: string;
  epoch: number;
  bestEpoch: number;
  bestValAuroc: number;
  epochsSinceBest: number;
  history: EpochRecord[];
  optimizer: CheckpointState['optimizer'];
  rng: CheckpointState['rng'];
  tensors: TensorEntry[];
  binary: { file: string; bytes: number; sha256: string };
}

export function checkpointName(epoch: number): string {
  return `epoch_${String(epoch).padStart(4, '0')}`;
}

/** Epoch numbers of the checkpoints in a folder, ascending by number (never by text: epoch 10 is after epoch 2). */
export async function listCheckpoints(dir: string): Promise<{ epoch: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const found: { epoch: number; path: string }[] = [];
  for (const name of names) {
    const m = /^epoch_(\d+)$/.exec(name);
    if (m) found.push({ epoch: Number(m[1]), path: join(dir, name) });
  }
  return found.sort((a, b) => a.epoch - b.epoch);
}

export async function writeCheckpoint(dir: string, runId: string, state: CheckpointState): Promise<string> {
  const entries: TensorEntry[] = [];
  let offset = 0;
  const groups = Object.keys(state.tensors) as TensorEntry['group'][];
  for (const group of groups) {
    state.tensors[group].forEach((t, index) => {
      entries.push({ group, index, shape: state.shapes[group][index], offset, length: t.length });
      offset += t.length;
    });
  }
  const bin = new Float32Array(offset);
  for (const e of entries) bin.set(state.tensors[e.group][e.index], e.offset);
  const bytes = new Uint8Array(bin.buffer);
  const json: CheckpointJson = {
    format: CHECKPOINT_FORMAT,
    runId,
    epoch: state.epoch,
    bestEpoch: state.bestEpoch,
    bestValAuroc: state.bestValAuroc,
    epochsSinceBest: state.epochsSinceBest,
    history: state.history,
    optimizer: state.optimizer,
    rng: state.rng,
    tensors: entries,
    binary: { file: BIN_FILE, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') },
  };
  const target = join(dir, checkpointName(state.epoch));
  const tmp = temporarySibling(target);
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, BIN_FILE), bytes);
  await writeFile(join(tmp, JSON_FILE), JSON.stringify(json));
  await rm(target, { recursive: true, force: true });
  await rename(tmp, target);
  return target;
}

/** Reads and verifies a checkpoint; a corrupt, truncated or foreign one gets a one-line error. */
export async function readCheckpoint(path: string): Promise<CheckpointState & { runId: string; path: string }> {
  let json: CheckpointJson;
  try {
    json = JSON.parse(await readFile(join(path, JSON_FILE), 'utf8')) as CheckpointJson;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(`${missing ? 'not a checkpoint' : 'corrupt checkpoint'}: ${path} (${missing ? `no ${JSON_FILE}` : `${JSON_FILE} is not valid JSON`})`);
  }
  if (json.format !== CHECKPOINT_FORMAT) throw new UserError(`unsupported checkpoint format "${json.format}" in ${path}; expected ${CHECKPOINT_FORMAT}`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(path, json.binary.file));
  } catch {
    throw new UserError(`corrupt checkpoint: ${path} has no ${json.binary.file}`);
  }
  if (bytes.byteLength !== json.binary.bytes) {
    throw new UserError(`corrupt checkpoint: ${path}/${json.binary.file} is ${bytes.byteLength} bytes, expected ${json.binary.bytes} (truncated?)`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== json.binary.sha256) throw new UserError(`corrupt checkpoint: ${path}/${json.binary.file} fails its SHA-256 check`);
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const tensors: CheckpointState['tensors'] = { weights: [], best_weights: [], adam_m: [], adam_v: [] };
  const shapes: CheckpointState['shapes'] = { weights: [], best_weights: [], adam_m: [], adam_v: [] };
  for (const e of json.tensors) {
    tensors[e.group][e.index] = all.slice(e.offset, e.offset + e.length);
    shapes[e.group][e.index] = e.shape;
  }
  return {
    path,
    runId: json.runId,
    epoch: json.epoch,
    bestEpoch: json.bestEpoch,
    bestValAuroc: json.bestValAuroc,
    epochsSinceBest: json.epochsSinceBest,
    history: json.history,
    optimizer: json.optimizer,
    rng: json.rng,
    tensors,
    shapes,
  };
}

/** Removes checkpoints the policy does not keep, given the epoch just written and the best epoch so far. */
export async function pruneCheckpoints(dir: string, policy: CheckpointPolicy, lastEpoch: number, bestEpoch: number): Promise<void> {
  if (policy === 'all') return;
  for (const { epoch, path } of await listCheckpoints(dir)) {
    const keep = epoch === lastEpoch ? policy !== 'none' : epoch === bestEpoch && policy === 'best_last';
    if (!keep) await rm(path, { recursive: true, force: true });
  }
}

/** A checkpoint folder, or a folder holding epoch_* checkpoints: the latest by epoch number. */
export async function resolveCheckpointPath(path: string): Promise<string> {
  try {
    await stat(join(path, JSON_FILE));
    return path;
  } catch {
    const found = await listCheckpoints(path);
    if (found.length === 0) throw new UserError(`no checkpoint found in ${path}`);
    return found[found.length - 1].path;
  }
}
