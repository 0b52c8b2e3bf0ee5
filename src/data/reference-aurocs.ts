/**
 * Reference AUROCs of a cohort: what the outcome's true risk, the charting pattern alone and the charted values
 * alone reach on the test split. They tell whether a cohort hands models a shortcut: on real ICU data charting
 * counts predict mortality only weakly (PhysioNet 2012 sets a+b: 0.58), so a synthetic cohort whose counts predict
 * it far better teaches models the charting habit instead of physiology.
 */
import type { Cohort } from './cohort.js';
import type { SplitName } from './splits.js';
import { auroc } from '../metrics/classification.js';
import { fitLogistic, predictLogistic } from '../metrics/logistic.js';

export interface ReferenceAurocs {
  /** AUROC of each test stay's true risk (synthetic cohorts only; null for real cohorts). */
  true_risk: number | null;
  /** Logistic regression on per-variable counts of charted hours, fitted on train, scored on test. */
  charting_only: number | null;
  /** The total number of charted values per stay as the score, no fitting (test split). */
  charted_total: number | null;
  /** Logistic regression on per-variable means of the charted values (train mean where never charted). */
  values_only: number | null;
  train_stays: number;
  test_stays: number;
}

/** L2 penalty of the reference regressions (on standardised features, summed over rows): light, as n ≫ features. */
const REFERENCE_L2 = 1;

/** Per stay and variable: the number of charted hours and the mean charted value (NaN where never charted). */
function perVariableSummaries(cohort: Cohort, rows: readonly number[]): { counts: Float64Array; means: Float64Array } {
  const T = cohort.schema.hours;
  const V = cohort.schema.variables.length;
  const counts = new Float64Array(rows.length * V);
  const means = new Float64Array(rows.length * V);
  rows.forEach((i, k) => {
    for (let v = 0; v < V; v++) {
      let c = 0;
      let s = 0;
      for (let t = 0; t < T; t++) {
        const x = cohort.series[(i * T + t) * V + v];
        if (!Number.isNaN(x)) {
          c++;
          s += x;
        }
      }
      counts[k * V + v] = c;
      means[k * V + v] = c > 0 ? s / c : NaN;
    }
  });
  return { counts, means };
}

function rowSums(x: Float64Array, width: number): Float64Array {
  const out = new Float64Array(x.length / width);
  for (let k = 0; k < out.length; k++) for (let j = 0; j < width; j++) out[k] += x[k * width + j];
  return out;
}

function labelsOf(cohort: Cohort, rows: readonly number[]): Uint8Array {
  return Uint8Array.from(rows, (i) => cohort.labels[i]);
}

function hasBothClasses(labels: Uint8Array): boolean {
  let pos = 0;
  for (const y of labels) pos += y;
  return pos > 0 && pos < labels.length;
}

/** Fits a logistic regression on the train features and returns the test AUROC; null when a split has one class. */
function fittedAuroc(trainX: Float64Array, trainY: Uint8Array, testX: Float64Array, testY: Uint8Array, features: number): number | null {
  if (!hasBothClasses(trainY) || !hasBothClasses(testY)) return null;
  const model = fitLogistic(trainX, trainY, features, { l2: REFERENCE_L2 });
  return auroc(testY, predictLogistic(model, testX));
}

/** The three reference AUROCs of a cohort for its train and test rows. */
export function referenceAurocs(cohort: Cohort, rows: Pick<Record<SplitName, number[]>, 'train' | 'test'>): ReferenceAurocs {
  const V = cohort.schema.variables.length;
  const train = perVariableSummaries(cohort, rows.train);
  const test = perVariableSummaries(cohort, rows.test);
  const trainY = labelsOf(cohort, rows.train);
  const testY = labelsOf(cohort, rows.test);

  // Variables never charted in train carry nothing: impute 0 so the column is constant.
  const fill = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let s = 0;
    let c = 0;
    for (let k = 0; k < rows.train.length; k++) {
      const x = train.means[k * V + v];
      if (!Number.isNaN(x)) {
        s += x;
        c++;
      }
    }
    fill[v] = c > 0 ? s / c : 0;
  }
  const impute = (m: Float64Array) => m.map((x, j) => (Number.isNaN(x) ? fill[j % V] : x));

  const testRisk = cohort.trueRisk ? Float64Array.from(rows.test, (i) => cohort.trueRisk![i]) : null;
  return {
    true_risk: testRisk && hasBothClasses(testY) ? auroc(testY, testRisk) : null,
    charting_only: fittedAuroc(train.counts, trainY, test.counts, testY, V),
    charted_total: hasBothClasses(testY) ? auroc(testY, rowSums(test.counts, V)) : null,
    values_only: fittedAuroc(impute(train.means), trainY, impute(test.means), testY, V),
    train_stays: rows.train.length,
    test_stays: rows.test.length,
  };
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));

/** One line for consoles and reports. */
export function referenceAurocLine(r: ReferenceAurocs): string {
  return `reference test AUROCs: true risk ${fmt(r.true_risk)}, charting-only ${fmt(r.charting_only)} (total charted values alone ${fmt(r.charted_total)}), values-only ${fmt(r.values_only)} (logistic regressions fitted on ${r.train_stays} train stays, scored on ${r.test_stays} test stays)`;
}
