import type { CohortSchema, StaticSpec, VariableSpec } from '../cohort.js';

/**
 * Variables of the embedded synthetic cohort, in the units MIMIC-IV charts them.
 * Plausible ranges bound what a monitor or analyser can report for a living adult; they follow the
 * outlier limits of the MIMIC-III benchmark (Harutyunyan et al. 2019, resources/variable_ranges.csv).
 */
export const SYNTHETIC_VARIABLES: VariableSpec[] = [
  { name: 'heart_rate', unit: 'beats/min', kind: 'vital', plausibleMin: 0, plausibleMax: 350, resolution: 1, description: 'Heart rate' },
  { name: 'sbp', unit: 'mmHg', kind: 'vital', plausibleMin: 0, plausibleMax: 375, resolution: 1, description: 'Systolic blood pressure' },
  { name: 'dbp', unit: 'mmHg', kind: 'vital', plausibleMin: 0, plausibleMax: 375, resolution: 1, description: 'Diastolic blood pressure' },
  { name: 'mbp', unit: 'mmHg', kind: 'vital', plausibleMin: 14, plausibleMax: 330, resolution: 1, description: 'Mean arterial blood pressure' },
  { name: 'resp_rate', unit: 'breaths/min', kind: 'vital', plausibleMin: 0, plausibleMax: 330, resolution: 1, description: 'Respiratory rate' },
  { name: 'spo2', unit: '%', kind: 'vital', plausibleMin: 0, plausibleMax: 100, resolution: 1, description: 'Peripheral oxygen saturation' },
  { name: 'temperature', unit: '°C', kind: 'vital', plausibleMin: 14.2, plausibleMax: 47, resolution: 0.1, description: 'Body temperature' },
  { name: 'gcs', unit: 'points', kind: 'score', plausibleMin: 3, plausibleMax: 15, resolution: 1, description: 'Glasgow Coma Scale total' },
  { name: 'lactate', unit: 'mmol/L', kind: 'lab', plausibleMin: 0.1, plausibleMax: 30, resolution: 0.1, description: 'Blood lactate' },
  { name: 'creatinine', unit: 'mg/dL', kind: 'lab', plausibleMin: 0.1, plausibleMax: 40, resolution: 0.1, description: 'Serum creatinine' },
  { name: 'bun', unit: 'mg/dL', kind: 'lab', plausibleMin: 1, plausibleMax: 250, resolution: 1, description: 'Blood urea nitrogen' },
  { name: 'glucose', unit: 'mg/dL', kind: 'lab', plausibleMin: 10, plausibleMax: 2200, resolution: 1, description: 'Blood glucose' },
  { name: 'wbc', unit: 'K/uL', kind: 'lab', plausibleMin: 0.1, plausibleMax: 500, resolution: 0.1, description: 'White blood cell count' },
  { name: 'hemoglobin', unit: 'g/dL', kind: 'lab', plausibleMin: 1, plausibleMax: 25, resolution: 0.1, description: 'Hemoglobin' },
  { name: 'platelets', unit: 'K/uL', kind: 'lab', plausibleMin: 1, plausibleMax: 2000, resolution: 1, description: 'Platelet count' },
  { name: 'sodium', unit: 'mEq/L', kind: 'lab', plausibleMin: 90, plausibleMax: 200, resolution: 1, description: 'Serum sodium' },
  { name: 'potassium', unit: 'mEq/L', kind: 'lab', plausibleMin: 1, plausibleMax: 12, resolution: 0.1, description: 'Serum potassium' },
  { name: 'bicarbonate', unit: 'mEq/L', kind: 'lab', plausibleMin: 2, plausibleMax: 60, resolution: 1, description: 'Serum bicarbonate' },
];

export const SYNTHETIC_STATICS: StaticSpec[] = [
  { name: 'age', unit: 'years', kind: 'numeric', description: 'Age at admission' },
  { name: 'sex_female', unit: '', kind: 'binary', description: '1 = female, 0 = male' },
  { name: 'weight', unit: 'kg', kind: 'numeric', description: 'Admission weight' },
  {
    name: 'admission_type',
    unit: '',
    kind: 'categorical',
    categories: ['elective', 'emergency', 'urgent'],
    description: 'Hospital admission type',
  },
];

export function syntheticSchema(hours: number): CohortSchema {
  return {
    hours,
    variables: SYNTHETIC_VARIABLES,
    statics: SYNTHETIC_STATICS,
    label: 'in_hospital_mortality',
    source: 'synthetic',
  };
}
