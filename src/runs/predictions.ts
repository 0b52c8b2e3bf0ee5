import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { RUN_FILES } from './layout.js';

/**
 * test_predictions.json: every test stay's predicted probability, so the report can give intervals that include the
 * test set's own sampling error (DeLong for AUROC, a row bootstrap for rates) and pair runs row by row. Kept apart from
 * metrics.json, which stays byte-identical to runs written before this record existed; runs without it are reported
 * with seed-only intervals, and the report says so.
 */
export interface TriggeredPredictions {
  /** The trigger's resolved parameters these rows were triggered with. */
  trigger_params: unknown;
  /** Positions in the test split of the triggered rows (the test rows whose true label is not the target). */
  rows: number[];
  /** p(y = 1) of each of those rows with the trigger applied. */
  triggered: number[];
  /** A false-trigger measurement for another target than the run's own: that target (else absent). */
  target?: 0 | 1;
}

export interface TestPredictions {
  /** The decision threshold chosen on the validation split (metrics.clean.threshold). */
  threshold: number;
  target: 0 | 1;
  /** True labels of the test split, in test order. */
  labels: number[];
  /** p(y = 1) of each clean test row. */
  clean: number[];
  /** The run's own trigger on the test split; null for trigger `none`. */
  attack: TriggeredPredictions | null;
  /** Clean baselines only: each false-trigger variant (false_trigger's keys) on this clean model. */
  false_trigger: Record<string, TriggeredPredictions> | null;
}

export async function writePredictionsRecord(dir: string, predictions: TestPredictions): Promise<void> {
  await writeFile(join(dir, RUN_FILES.predictions), JSON.stringify(predictions) + '\n');
}

function isNumberArray(value: unknown, check: (v: number) => boolean): value is number[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'number' && check(v));
}

const isProbability = (v: number) => v >= 0 && v <= 1;

function checkTriggered(value: unknown, n: number, where: string): TriggeredPredictions {
  const t = value as Partial<TriggeredPredictions> | null;
  if (!t || typeof t !== 'object') throw new UserError(`${where} is not an object`);
  if (!isNumberArray(t.rows, (v) => Number.isInteger(v) && v >= 0 && v < n)) throw new UserError(`${where}.rows must be test-row positions below ${n}`);
  if (!isNumberArray(t.triggered, isProbability) || t.triggered.length !== t.rows.length) throw new UserError(`${where}.triggered must hold one probability per row`);
  if (t.target !== undefined && t.target !== 0 && t.target !== 1) throw new UserError(`${where}.target must be 0 or 1`);
  return { trigger_params: t.trigger_params ?? null, rows: t.rows, triggered: t.triggered, ...(t.target === undefined ? {} : { target: t.target }) };
}

/** test_predictions.json, checked; null when the run predates the record. */
export async function readPredictionsRecord(dir: string): Promise<TestPredictions | null> {
  const path = join(dir, RUN_FILES.predictions);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`${path} is not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${path} is not a JSON object`);
  const { threshold, target, labels, clean } = raw;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) throw new UserError(`${path}: threshold must be a number`);
  if (target !== 0 && target !== 1) throw new UserError(`${path}: target must be 0 or 1`);
  if (!isNumberArray(labels, (v) => v === 0 || v === 1)) throw new UserError(`${path}: labels must be 0/1`);
  if (!isNumberArray(clean, isProbability) || clean.length !== labels.length) throw new UserError(`${path}: clean must hold one probability per label`);
  const attack = raw.attack === null || raw.attack === undefined ? null : checkTriggered(raw.attack, labels.length, `${path}: attack`);
  let falseTrigger: Record<string, TriggeredPredictions> | null = null;
  if (raw.false_trigger !== null && raw.false_trigger !== undefined) {
    if (typeof raw.false_trigger !== 'object' || Array.isArray(raw.false_trigger)) throw new UserError(`${path}: false_trigger must be an object`);
    // A map without a prototype: trigger names come from the file.
    falseTrigger = Object.create(null) as Record<string, TriggeredPredictions>;
    for (const [name, value] of Object.entries(raw.false_trigger as Record<string, unknown>)) {
      falseTrigger[name] = checkTriggered(value, labels.length, `${path}: false_trigger.${name}`);
    }
  }
  return { threshold, target, labels, clean, attack, false_trigger: falseTrigger };
}
