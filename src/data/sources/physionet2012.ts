import { existsSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback } from 'node:zlib';
import { allocateCohort } from '../cohort.js';
import {
  DESCRIPTOR_RANGES,
  DESCRIPTORS,
  PHYSIONET_HOURS,
  PHYSIONET_ICU_TYPES,
  PHYSIONET_PARAMETERS,
  PHYSIONET_VARIABLES,
  physionetSchema,
} from './physionet2012-schema.js';
import { writeCohortOutputs, type CohortReport, type InclusionStep } from './cohort-report.js';
import type { CohortSource } from './types.js';
import { clampFloat32 } from '../../util/float32.js';
import { readTar, TarError } from '../../util/tar.js';
import { UserError } from '../../util/errors.js';

const gunzip = promisify(gunzipCallback);

export const PHYSIONET_DEFAULT_OUT = join('data', 'cohorts', 'physionet2012');
export const PHYSIONET_SETS = ['a', 'b', 'c'] as const;
interface SetSource {
  set: string;
  kind: 'folder' | 'archive';
  path: string;
  outcomes: string;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Finds set-x/ folders or set-x.tar.gz archives (a folder wins) and their Outcomes-x.txt. */
export function locatePhysionetSets(dir: string, sets?: string[]): SetSource[] {
  if (!existsSync(dir)) throw new UserError(`PhysioNet 2012 folder not found: ${dir}`);
  if (!isDir(dir)) throw new UserError(`--dir must be a folder, but ${dir} is a file`);
  const wanted = sets ?? [...PHYSIONET_SETS];
  for (const s of wanted) {
    if (!(PHYSIONET_SETS as readonly string[]).includes(s)) throw new UserError(`unknown PhysioNet 2012 set "${s}"; valid: ${PHYSIONET_SETS.join(', ')}`);
  }
  const found: SetSource[] = [];
  for (const set of wanted) {
    const folder = join(dir, `set-${set}`);
    const archive = join(dir, `set-${set}.tar.gz`);
    const outcomes = join(dir, `Outcomes-${set}.txt`);
    let source: SetSource | undefined;
    if (isDir(folder)) source = { set, kind: 'folder', path: folder, outcomes };
    else if (existsSync(archive)) source = { set, kind: 'archive', path: archive, outcomes };
    if (!source) {
      if (sets) throw new UserError(`PhysioNet 2012 set ${set} not found: neither set-${set}/ nor set-${set}.tar.gz in ${dir}`);
      continue;
    }
    if (!existsSync(outcomes)) {
      throw new UserError(`missing outcomes file for set ${set}: Outcomes-${set}.txt not found in ${dir} (it holds the In-hospital_death labels)`);
    }
    found.push(source);
  }
  if (found.length === 0) {
    const hint = /^set-[abc]$/.test(basename(dir)) ? `; point --dir at the folder that holds ${basename(dir)}/, not at the set itself` : '';
    throw new UserError(`${dir} is not a PhysioNet 2012 folder: it has no set-a/, set-b/, set-c/ folders or set-a.tar.gz, set-b.tar.gz, set-c.tar.gz archives${hint}`);
  }
  return found;
}

/** RecordID → In-hospital_death from an Outcomes-x.txt file. */
export async function readOutcomes(path: string): Promise<Map<number, number>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read outcomes file ${path}: ${(err as Error).message}`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const idCol = header.indexOf('RecordID');
  const labelCol = header.indexOf('In-hospital_death');
  if (idCol < 0 || labelCol < 0) throw new UserError(`outcomes file ${path} has no RecordID and In-hospital_death columns (header: ${lines[0] ?? 'empty file'})`);
  const out = new Map<number, number>();
  for (let k = 1; k < lines.length; k++) {
    const fields = lines[k].split(',');
    const id = Number(fields[idCol]);
    const label = Number(fields[labelCol]);
    if (!Number.isInteger(id)) throw new UserError(`outcomes file ${path} line ${k + 1}: RecordID "${fields[idCol]}" is not an integer`);
    if (label !== 0 && label !== 1) throw new UserError(`outcomes file ${path} line ${k + 1}: In-hospital_death of RecordID ${id} is "${fields[labelCol]}", not 0 or 1`);
    const earlier = out.get(id);
    if (earlier !== undefined && earlier !== label) throw new UserError(`outcomes file ${path} line ${k + 1}: RecordID ${id} is listed twice with opposite In-hospital_death labels (${earlier} and ${label})`);
    out.set(id, label);
  }
  return out;
}

/** The record files of a set: [name, text] pairs, from the folder or the archive. */
async function readSetFiles(source: SetSource): Promise<[string, string][]> {
  if (source.kind === 'folder') {
    const names = (await readdir(source.path)).filter((f) => f.endsWith('.txt')).sort();
    return Promise.all(names.map(async (f) => [join(source.path, f), await readFile(join(source.path, f), 'utf8')] as [string, string]));
  }
  let compressed: Buffer;
  try {
    compressed = await readFile(source.path);
  } catch (err) {
    throw new UserError(`cannot read ${source.path}: ${(err as Error).message}`);
  }
  let tar: Buffer;
  try {
    tar = await gunzip(compressed);
  } catch (err) {
    throw new UserError(`corrupt archive ${source.path}: gzip data is damaged or truncated (${(err as Error).message})`);
  }
  const files: [string, string][] = [];
  try {
    for (const entry of readTar(tar)) {
      if (entry.type === 'file' && entry.name.endsWith('.txt')) files.push([`${source.path}:${entry.name}`, entry.data.toString('utf8')]);
    }
  } catch (err) {
    if (err instanceof TarError) throw new UserError(`corrupt archive ${source.path}: ${err.message}`);
    throw err;
  }
  if (files.length === 0) throw new UserError(`archive ${source.path} holds no <RecordID>.txt records`);
  return files;
}

export interface ParsedRecord {
  recordId: number;
  /** age, sex_female, weight, height, icu_type index, as in PHYSIONET_STATICS (NaN = unknown). */
  statics: number[];
  /** 48 × V hourly means, row-major; NaN = not measured. */
  series: Float32Array;
}

export interface ParseCounts {
  removed: Float64Array;
  foldedHour48: number;
  droppedOutsideWindow: number;
  unknownParameters: Map<string, number>;
  descriptorsOutOfRange: Map<string, number>;
}

export function newParseCounts(): ParseCounts {
  return {
    removed: new Float64Array(PHYSIONET_VARIABLES.length),
    foldedHour48: 0,
    droppedOutsideWindow: 0,
    unknownParameters: new Map(),
    descriptorsOutOfRange: new Map(),
  };
}

const VARIABLE_INDEX = new Map(PHYSIONET_VARIABLES.map((v, i) => [v.name, i]));
const PARAM_INDEX = new Map(Object.entries(PHYSIONET_PARAMETERS).map(([p, m]) => [p, { v: VARIABLE_INDEX.get(m.variable)!, priority: m.priority }]));

/**
 * Parses one record ("Time,Parameter,Value" lines). Descriptors are the 00:00 lines of RecordID, Age, Gender,
 * Height, ICUType and Weight (first occurrence); −1 means unknown. Time-series values are binned by
 * hour = floor(minutes / 60); PhysioNet's window closes at 48:00, so a value stamped exactly 48:00 is kept in
 * hour 47 rather than dropped (it belongs to the 48 h the challenge defines). Values outside the variable's
 * plausible range are removed before the hourly mean.
 */
export function parseRecord(name: string, text: string, counts: ParseCounts): ParsedRecord {
  const T = PHYSIONET_HOURS;
  const V = PHYSIONET_VARIABLES.length;
  const sum = new Float64Array(T * V * 2);
  const cnt = new Float64Array(T * V * 2);
  const descriptors = new Map<string, number>();
  const lines = text.split('\n');
  const first = lines[0]?.trim().replace(/^\uFEFF/, '');
  if (first !== 'Time,Parameter,Value') throw new UserError(`corrupt record ${name}: the first line is not "Time,Parameter,Value"`);
  for (let k = 1; k < lines.length; k++) {
    const line = lines[k].trim();
    if (line === '') continue;
    const c1 = line.indexOf(',');
    const c2 = line.indexOf(',', c1 + 1);
    const colon = line.indexOf(':');
    if (c1 < 0 || c2 < 0 || colon < 0 || colon > c1) throw new UserError(`corrupt record ${name} line ${k + 1}: "${line}" is not Time,Parameter,Value`);
    const hh = Number(line.slice(0, colon));
    const mm = Number(line.slice(colon + 1, c1));
    const parameter = line.slice(c1 + 1, c2);
    const value = Number(line.slice(c2 + 1));
    if (!Number.isInteger(hh) || !Number.isInteger(mm) || Number.isNaN(value) || line.slice(c2 + 1).trim() === '') {
      throw new UserError(`corrupt record ${name} line ${k + 1}: "${line}" is not Time,Parameter,Value`);
    }
    const minutes = hh * 60 + mm;
    if (minutes === 0 && DESCRIPTORS.has(parameter) && !descriptors.has(parameter)) {
      descriptors.set(parameter, value);
      continue;
    }
    const target = PARAM_INDEX.get(parameter);
    if (!target) {
      if (parameter !== 'Weight') counts.unknownParameters.set(parameter, (counts.unknownParameters.get(parameter) ?? 0) + 1);
      continue;
    }
    let hour = Math.floor(minutes / 60);
    if (minutes === T * 60) {
      hour = T - 1;
      counts.foldedHour48++;
    } else if (minutes < 0 || hour >= T) {
      counts.droppedOutsideWindow++;
      continue;
    }
    const spec = PHYSIONET_VARIABLES[target.v];
    if (!(value >= spec.plausibleMin && value <= spec.plausibleMax)) {
      counts.removed[target.v]++;
      continue;
    }
    const slot = ((hour * V + target.v) << 1) + (target.priority - 1);
    sum[slot] += value;
    cnt[slot]++;
  }
  const recordId = descriptors.get('RecordID');
  if (recordId === undefined || !Number.isInteger(recordId)) throw new UserError(`corrupt record ${name}: it has no RecordID descriptor at 00:00`);
  const series = new Float32Array(T * V).fill(NaN);
  for (let t = 0; t < T; t++) {
    for (let v = 0; v < V; v++) {
      const slot = (t * V + v) << 1;
      const use = cnt[slot] > 0 ? slot : cnt[slot + 1] > 0 ? slot + 1 : -1;
      if (use >= 0) series[t * V + v] = clampFloat32(sum[use] / cnt[use], PHYSIONET_VARIABLES[v].plausibleMin, PHYSIONET_VARIABLES[v].plausibleMax);
    }
  }
  const descriptor = (key: string): number => {
    const x = descriptors.get(key);
    if (x === undefined || x === -1) return NaN;
    const range = DESCRIPTOR_RANGES[key];
    if (range && !(x >= range[0] && x <= range[1])) {
      counts.descriptorsOutOfRange.set(key, (counts.descriptorsOutOfRange.get(key) ?? 0) + 1);
      return NaN;
    }
    return x;
  };
  const gender = descriptor('Gender');
  const icuType = descriptor('ICUType');
  return {
    recordId,
    statics: [
      descriptor('Age'),
      gender === 0 ? 1 : gender === 1 ? 0 : NaN,
      descriptor('Weight'),
      descriptor('Height'),
      Number.isInteger(icuType) && icuType >= 1 && icuType <= PHYSIONET_ICU_TYPES.length ? icuType - 1 : NaN,
    ],
    series,
  };
}

export interface PhysionetOptions {
  dir: string;
  outDir?: string;
  /** Sets to read, e.g. ['a'] or ['a', 'b']; default every set present. */
  sets?: string[];
  seed?: number;
}

/** Builds the PhysioNet 2012 cohort and writes <outDir>/cohort.parquet, splits.json and the report. */
export async function buildPhysionetCohort(options: PhysionetOptions): Promise<CohortReport> {
  const outDir = options.outDir ?? PHYSIONET_DEFAULT_OUT;
  const sources = locatePhysionetSets(options.dir, options.sets);
  const counts = newParseCounts();
  const records: (ParsedRecord & { label: number })[] = [];
  const seen = new Map<number, string>();
  const inclusion: InclusionStep[] = [];
  let totalRecords = 0;
  for (const source of sources) {
    const outcomes = await readOutcomes(source.outcomes);
    const files = await readSetFiles(source);
    totalRecords += files.length;
    for (const [name, text] of files) {
      const record = parseRecord(name, text, counts);
      const label = outcomes.get(record.recordId);
      if (label === undefined) {
        throw new UserError(`record ${name} (RecordID ${record.recordId}) has no label: RecordID ${record.recordId} is not in ${source.outcomes}`);
      }
      const previous = seen.get(record.recordId);
      if (previous) throw new UserError(`RecordID ${record.recordId} appears twice: ${previous} and ${name}`);
      seen.set(record.recordId, name);
      records.push({ ...record, label });
    }
  }
  records.sort((a, b) => a.recordId - b.recordId);
  const schema = physionetSchema();
  const n = records.length;
  const T = schema.hours;
  const V = schema.variables.length;
  const S = schema.statics.length;
  const cohort = allocateCohort(schema, n);
  records.forEach((r, i) => {
    cohort.stayIds[i] = r.recordId;
    // One ICU stay per patient in the challenge data: the RecordID is the patient id.
    cohort.patientIds[i] = r.recordId;
    cohort.labels[i] = r.label;
    cohort.statics.set(r.statics, i * S);
    cohort.series.set(r.series, i * T * V);
  });
  let deaths = 0;
  for (const y of cohort.labels) deaths += y;
  const setNames = sources.map((s) => `set-${s.set}`).join(', ');
  // Every record must have a label (a missing one is an error above), so both steps count the same deaths.
  inclusion.push({ step: `records in ${setNames}`, stays: totalRecords, patients: totalRecords, deaths });
  inclusion.push({ step: 'with In-hospital_death label in Outcomes-*.txt', stays: n, patients: n, deaths });

  const extras: Record<string, { removedImplausible: number; source: string }> = {};
  PHYSIONET_VARIABLES.forEach((v, i) => {
    const params = Object.entries(PHYSIONET_PARAMETERS)
      .filter(([, m]) => m.variable === v.name)
      .sort(([, a], [, b]) => a.priority - b.priority)
      .map(([p]) => p);
    extras[v.name] = { removedImplausible: counts.removed[i], source: params.join(', else ') };
  });
  const notes = [
    'Blood pressure: within each hour the invasive mean (SysABP, DiasABP, MAP) is used when charted, else the non-invasive mean (NISysABP, NIDiasABP, NIMAP).',
    'spo2 holds SaO2 (arterial blood-gas saturation): PhysioNet 2012 has no pulse oximetry. It is sparse, so spo2 triggers touch few hours here.',
    `Values stamped exactly 48:00 were kept in hour 47: ${counts.foldedHour48}. Values after 48:00 dropped: ${counts.droppedOutsideWindow}.`,
    'sbp and dbp keep 0 mmHg: their plausible ranges (shared with the synthetic schema, from the MIMIC-III benchmark) start at 0, so arterial-line zeros (flush or disconnection artifacts) stay in; mbp starts at 14 mmHg, so MAP zeros are removed.',
    'The Weight time series (repeated charting for fluid balance) is not a variable; weight is the 00:00 descriptor. Descriptor −1 means unknown (NaN).',
  ];
  if (counts.descriptorsOutOfRange.size > 0) {
    notes.push(`Implausible descriptors set to unknown: ${[...counts.descriptorsOutOfRange].map(([k, c]) => `${k} ${c}`).join(', ')} (limits Age 15–120 y, Weight 20–300 kg, Height 100–250 cm).`);
  }
  if (counts.unknownParameters.size > 0) {
    notes.push(`Unknown parameters ignored: ${[...counts.unknownParameters].map(([k, c]) => `${k} (${c})`).join(', ')}.`);
  }
  return writeCohortOutputs({
    outDir,
    cohort,
    input: options.dir,
    options: { sets: sources.map((s) => s.set), sources: Object.fromEntries(sources.map((s) => [s.set, s.kind])), seed: options.seed ?? null },
    inclusion,
    variableExtras: extras,
    notes,
    seed: options.seed,
  });
}

/** `backdoor cohort physionet2012`. Its variables take the shared names where they measure the same thing. */
export const physionet2012: CohortSource = {
  name: 'physionet2012',
  description: 'PhysioNet/CinC Challenge 2012: set-a/, set-b/, set-c/ folders or set-x.tar.gz archives with Outcomes-x.txt, 48 hourly bins',
  params: {
    dir: { type: 'string', nullable: true, default: null, description: 'Folder holding the sets and Outcomes-x.txt files' },
    sets: { type: 'list', items: { type: 'string', choices: PHYSIONET_SETS }, nullable: true, default: null, description: 'Sets to read, e.g. a,b (default: every set present)' },
  },
  required: ['dir'],
  defaultOut: PHYSIONET_DEFAULT_OUT,
  variables: () => PHYSIONET_VARIABLES,
  build: (p, output) => buildPhysionetCohort({ dir: p.dir as string, sets: (p.sets as string[] | null) ?? undefined, outDir: output.outDir, seed: output.seed }),
};
