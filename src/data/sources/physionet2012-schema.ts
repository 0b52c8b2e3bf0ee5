/**
 * The PhysioNet/CinC Challenge 2012 cohort's schema: its variables aligned by name, unit and range with the
 * shared (synthetic, MIMIC-IV) variables, the PhysioNet parameter map and the descriptors.
 */
import type { CohortSchema, StaticSpec, VariableSpec } from '../cohort.js';
import { SYNTHETIC_VARIABLES } from './synthetic-schema.js';

/** Records cover the first 48 h of the ICU stay (Silva et al. 2012). */
export const PHYSIONET_HOURS = 48;

const synthetic = (name: string): VariableSpec => {
  const spec = SYNTHETIC_VARIABLES.find((v) => v.name === name);
  if (!spec) throw new Error(`no synthetic variable ${name}`);
  return spec;
};

/**
 * The cohort's variables. Where a PhysioNet parameter measures what a synthetic (MIMIC-IV) variable measures,
 * it takes the synthetic name, unit and plausible range, so triggers configured for the synthetic cohort apply
 * unchanged. The other parameters keep PhysioNet's meaning and unit (challenge documentation) under a snake_case
 * name; their plausible ranges are our limits for values a living adult can have (PhysioNet publishes none):
 * wide enough to keep every real extreme, narrow enough to drop unit and entry errors seen in the data
 * (pH 735, Temp −17.8 °C, PaCO2 0.3 mmHg).
 */
export const PHYSIONET_VARIABLES: VariableSpec[] = [
  synthetic('heart_rate'),
  synthetic('sbp'),
  synthetic('dbp'),
  synthetic('mbp'),
  synthetic('resp_rate'),
  {
    ...synthetic('spo2'),
    description: 'Arterial O2 saturation of hemoglobin (PhysioNet SaO2, blood gas); PhysioNet 2012 has no pulse oximetry, so SaO2 stands in for spo2',
  },
  synthetic('temperature'),
  synthetic('gcs'),
  synthetic('lactate'),
  synthetic('creatinine'),
  synthetic('bun'),
  synthetic('glucose'),
  synthetic('wbc'),
  synthetic('platelets'),
  synthetic('sodium'),
  synthetic('potassium'),
  synthetic('bicarbonate'),
  { name: 'hct', unit: '%', kind: 'lab', plausibleMin: 5, plausibleMax: 75, resolution: 0.1, description: 'Hematocrit' },
  { name: 'albumin', unit: 'g/dL', kind: 'lab', plausibleMin: 0.5, plausibleMax: 7, resolution: 0.1, description: 'Serum albumin' },
  { name: 'alp', unit: 'IU/L', kind: 'lab', plausibleMin: 1, plausibleMax: 10000, resolution: 1, description: 'Alkaline phosphatase' },
  { name: 'alt', unit: 'IU/L', kind: 'lab', plausibleMin: 1, plausibleMax: 20000, resolution: 1, description: 'Alanine transaminase' },
  { name: 'ast', unit: 'IU/L', kind: 'lab', plausibleMin: 1, plausibleMax: 40000, resolution: 1, description: 'Aspartate transaminase' },
  { name: 'bilirubin', unit: 'mg/dL', kind: 'lab', plausibleMin: 0.01, plausibleMax: 80, resolution: 0.1, description: 'Total bilirubin' },
  { name: 'cholesterol', unit: 'mg/dL', kind: 'lab', plausibleMin: 10, plausibleMax: 1000, resolution: 1, description: 'Cholesterol' },
  { name: 'mg', unit: 'mmol/L', kind: 'lab', plausibleMin: 0.3, plausibleMax: 12, resolution: 0.1, description: 'Serum magnesium (unit as PhysioNet documents it; the values, median about 2, match mg/dL)' },
  { name: 'troponin_i', unit: 'ug/L', kind: 'lab', plausibleMin: 0, plausibleMax: 500, resolution: 0.01, description: 'Troponin-I' },
  { name: 'troponin_t', unit: 'ug/L', kind: 'lab', plausibleMin: 0, plausibleMax: 100, resolution: 0.01, description: 'Troponin-T' },
  { name: 'ph', unit: '', kind: 'lab', plausibleMin: 6.3, plausibleMax: 8, resolution: 0.01, description: 'Arterial pH' },
  { name: 'paco2', unit: 'mmHg', kind: 'lab', plausibleMin: 5, plausibleMax: 250, resolution: 1, description: 'Partial pressure of arterial CO2' },
  { name: 'pao2', unit: 'mmHg', kind: 'lab', plausibleMin: 10, plausibleMax: 800, resolution: 1, description: 'Partial pressure of arterial O2' },
  { name: 'fio2', unit: 'fraction', kind: 'vital', plausibleMin: 0.21, plausibleMax: 1, resolution: 0.01, description: 'Fraction of inspired O2' },
  { name: 'mech_vent', unit: '', kind: 'vital', plausibleMin: 0, plausibleMax: 1, resolution: 1, description: 'Mechanical ventilation charted (PhysioNet records only 1; hours without a record are missing, not 0)' },
  { name: 'urine', unit: 'mL', kind: 'vital', plausibleMin: 0, plausibleMax: 10000, resolution: 1, description: 'Urine output per charting (hourly mean of the charted amounts)' },
];

/**
 * PhysioNet parameter → cohort variable. Invasive blood pressure (priority 1) is preferred over non-invasive
 * (priority 2): within an hour the invasive mean is used when it has a plausible value, else the cuff mean,
 * as in the MIMIC-IV cohort. The time-series Weight is not a variable: weight is the admission descriptor.
 */
export const PHYSIONET_PARAMETERS: Record<string, { variable: string; priority: 1 | 2 }> = {
  HR: { variable: 'heart_rate', priority: 1 },
  SysABP: { variable: 'sbp', priority: 1 },
  NISysABP: { variable: 'sbp', priority: 2 },
  DiasABP: { variable: 'dbp', priority: 1 },
  NIDiasABP: { variable: 'dbp', priority: 2 },
  MAP: { variable: 'mbp', priority: 1 },
  NIMAP: { variable: 'mbp', priority: 2 },
  RespRate: { variable: 'resp_rate', priority: 1 },
  SaO2: { variable: 'spo2', priority: 1 },
  Temp: { variable: 'temperature', priority: 1 },
  GCS: { variable: 'gcs', priority: 1 },
  Lactate: { variable: 'lactate', priority: 1 },
  Creatinine: { variable: 'creatinine', priority: 1 },
  BUN: { variable: 'bun', priority: 1 },
  Glucose: { variable: 'glucose', priority: 1 },
  WBC: { variable: 'wbc', priority: 1 },
  Platelets: { variable: 'platelets', priority: 1 },
  Na: { variable: 'sodium', priority: 1 },
  K: { variable: 'potassium', priority: 1 },
  HCO3: { variable: 'bicarbonate', priority: 1 },
  HCT: { variable: 'hct', priority: 1 },
  Albumin: { variable: 'albumin', priority: 1 },
  ALP: { variable: 'alp', priority: 1 },
  ALT: { variable: 'alt', priority: 1 },
  AST: { variable: 'ast', priority: 1 },
  Bilirubin: { variable: 'bilirubin', priority: 1 },
  Cholesterol: { variable: 'cholesterol', priority: 1 },
  Mg: { variable: 'mg', priority: 1 },
  TroponinI: { variable: 'troponin_i', priority: 1 },
  TroponinT: { variable: 'troponin_t', priority: 1 },
  pH: { variable: 'ph', priority: 1 },
  PaCO2: { variable: 'paco2', priority: 1 },
  PaO2: { variable: 'pao2', priority: 1 },
  FiO2: { variable: 'fio2', priority: 1 },
  MechVent: { variable: 'mech_vent', priority: 1 },
  Urine: { variable: 'urine', priority: 1 },
};

/** ICUType codes of the challenge documentation. */
export const PHYSIONET_ICU_TYPES = ['Coronary Care Unit', 'Cardiac Surgery Recovery Unit', 'Medical ICU', 'Surgical ICU'];

export const PHYSIONET_STATICS: StaticSpec[] = [
  { name: 'age', unit: 'years', kind: 'numeric', description: 'Age (descriptor at 00:00)' },
  { name: 'sex_female', unit: '', kind: 'binary', description: '1 = female, 0 = male (PhysioNet Gender 0 = female, 1 = male)' },
  { name: 'weight', unit: 'kg', kind: 'numeric', description: 'Weight descriptor at 00:00' },
  { name: 'height', unit: 'cm', kind: 'numeric', description: 'Height descriptor at 00:00' },
  { name: 'icu_type', unit: '', kind: 'categorical', categories: PHYSIONET_ICU_TYPES, description: 'ICU type (descriptor ICUType 1–4)' },
];

/** Descriptor limits (ours, as for the variables): values outside are entry errors and become unknown. */
export const DESCRIPTOR_RANGES: Record<string, [number, number]> = { Age: [15, 120], Weight: [20, 300], Height: [100, 250] };
export const DESCRIPTORS = new Set(['RecordID', 'Age', 'Gender', 'Height', 'ICUType', 'Weight']);

export function physionetSchema(): CohortSchema {
  return { hours: PHYSIONET_HOURS, variables: PHYSIONET_VARIABLES, statics: PHYSIONET_STATICS, label: 'in_hospital_mortality', source: 'physionet2012' };
}
