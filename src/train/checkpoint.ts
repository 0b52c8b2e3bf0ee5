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
  try {
    await mkdir(tmp, { recursive: true });
    await writeFile(join(tmp, BIN_FILE), bytes);
    await writeFile(join(tmp, JSON_FILE), JSON.stringify(json));
    await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
  } catch (err) {
    // A full disk must not leave a half-written checkpoint behind (a kill's leftover is swept by removeOrphans).
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  return target;
}

const TENSOR_GROUPS: readonly TensorEntry['group'][] = ['weights', 'best_weights', 'adam_m', 'adam_v'];
/** Bounds on what a checkpoint may state, far above any model here; beyond them the file is damaged or forged. */
const MAX_TENSORS_PER_GROUP = 100_000;
const MAX_FLOATS = 2 ** 30;

/**
 * Validates a parsed checkpoint.json field by field and copies it into fresh structures, so no key of the file
 * reaches an object's prototype (a `"group": "__proto__"` entry is an unknown group, not a write to Object.prototype).
 */
export function parseCheckpointJson(path: string, raw: unknown): CheckpointJson {
  const bad = (problem: string) => new UserError(`corrupt checkpoint: ${path}/${JSON_FILE} ${problem}`);
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  const own = (o: Record<string, unknown>, key: string) => (Object.hasOwn(o, key) ? o[key] : undefined);
  const count = (o: Record<string, unknown>, key: string, max = Number.MAX_SAFE_INTEGER): number => {
    const x = own(o, key);
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x > max) throw bad(`has ${key} ${JSON.stringify(x)}; expected an integer from 0 to ${max}`);
    return x;
  };
  const num = (o: Record<string, unknown>, key: string, nullable = false): number => {
    const x = own(o, key);
    // JSON has no infinity: a best AUROC of -Infinity (no epoch yet) is saved as null.
    if (nullable && x === null) return -Infinity;
    if (typeof x !== 'number') throw bad(`has ${key} ${JSON.stringify(x)}; expected a number`);
    return x;
  };
  const str = (o: Record<string, unknown>, key: string): string => {
    const x = own(o, key);
    if (typeof x !== 'string') throw bad(`has ${key} ${JSON.stringify(x)}; expected a string`);
    return x;
  };
  if (!isObject(raw)) throw bad('is not a JSON object');
  const format = own(raw, 'format');
  if (format !== CHECKPOINT_FORMAT) throw new UserError(`unsupported checkpoint format ${JSON.stringify(format)} in ${path}; expected ${CHECKPOINT_FORMAT}`);
  const optimizer = own(raw, 'optimizer');
  const rng = own(raw, 'rng');
  const binary = own(raw, 'binary');
  const history = own(raw, 'history');
  const tensors = own(raw, 'tensors');
  if (!isObject(optimizer)) throw bad('has no optimizer state');
  if (!isObject(rng) || own(rng, 'scheme') !== 'derived-per-epoch') throw bad('has no rng state of scheme derived-per-epoch');
  if (!isObject(binary)) throw bad('names no binary file');
  if (!Array.isArray(history) || !history.every(isObject)) throw bad('has no history list');
  if (!Array.isArray(tensors)) throw bad('has no tensors list');

  const file = str(binary, 'file');
  // A plain file name inside the checkpoint folder: no separator, no `..`, no hidden tricks.
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(file) || file.includes('..')) throw bad(`names binary file ${JSON.stringify(file)}; it must be a plain file name inside the checkpoint folder`);
  const bytes = count(binary, 'bytes', MAX_FLOATS * 4);
  if (bytes % 4 !== 0) throw bad(`states ${bytes} binary bytes, not a whole number of float32 values`);
  const sha256 = str(binary, 'sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw bad('has no SHA-256 of its binary file');

  const totalFloats = bytes / 4;
  const seen: Record<TensorEntry['group'], number[]> = { weights: [], best_weights: [], adam_m: [], adam_v: [] };
  const entries: TensorEntry[] = tensors.map((entry, k) => {
    if (!isObject(entry)) throw bad(`tensor entry ${k} is not an object`);
    const group = own(entry, 'group');
    if (typeof group !== 'string' || !TENSOR_GROUPS.includes(group as TensorEntry['group'])) {
      throw bad(`tensor entry ${k} has unknown group ${JSON.stringify(group)}; valid: ${TENSOR_GROUPS.join(', ')}`);
    }
    const index = count(entry, 'index', MAX_TENSORS_PER_GROUP);
    const offset = count(entry, 'offset', totalFloats);
    const length = count(entry, 'length', totalFloats);
    const shape = own(entry, 'shape');
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) throw bad(`tensor entry ${k} has no shape list`);
    const size = (shape as number[]).reduce((a, d) => a * d, 1);
    if (size !== length) throw bad(`tensor entry ${k} has length ${length}, but its shape [${shape.join(', ')}] holds ${size} values`);
    if (offset + length > totalFloats) throw bad(`tensor entry ${k} reaches past the end of the binary file`);
    const g = group as TensorEntry['group'];
    if (seen[g].includes(index)) throw bad(`has tensor ${g}[${index}] twice`);
    seen[g].push(index);
    return { group: g, index, shape: [...(shape as number[])], offset, length };
  });
  for (const g of TENSOR_GROUPS) {
    if (seen[g].some((index) => index >= seen[g].length)) throw bad(`has gaps in its ${g} tensors`);
  }
  return {
    format: CHECKPOINT_FORMAT,
    runId: str(raw, 'runId'),
    epoch: count(raw, 'epoch'),
    bestEpoch: count(raw, 'bestEpoch'),
    bestValAuroc: num(raw, 'bestValAuroc', true),
    epochsSinceBest: count(raw, 'epochsSinceBest'),
    history: history.map((r) => ({ ...(r as unknown as EpochRecord) })),
    optimizer: {
      iterations: count(optimizer, 'iterations'),
      accBeta1: num(optimizer, 'accBeta1'),
      accBeta2: num(optimizer, 'accBeta2'),
      learningRate: num(optimizer, 'learningRate'),
    },
    rng: { scheme: 'derived-per-epoch', seed: str(rng, 'seed'), nextEpoch: count(rng, 'nextEpoch') },
    tensors: entries,
    binary: { file, bytes, sha256 },
  };
}

/** Reads and verifies a checkpoint; a corrupt, truncated, forged or foreign one gets a one-line error. */
export async function readCheckpoint(path: string): Promise<CheckpointState & { runId: string; path: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(path, JSON_FILE), 'utf8'));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UserError(`${missing ? 'not a checkpoint' : 'corrupt checkpoint'}: ${path} (${missing ? `no ${JSON_FILE}` : `${JSON_FILE} is not valid JSON`})`);
  }
  const json = parseCheckpointJson(path, parsed);
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
