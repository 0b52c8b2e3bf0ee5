-- MIMIC-IV in-hospital mortality cohort: first ICU stay of adults, features from the first
-- `obs_hours` hours of the stay, aggregated to hourly means. Run by DuckDB over the MIMIC-IV
-- files; `backdoor cohort mimic-iv` (src/data/sources/mimic-iv.ts) runs it and reads the results.
--
-- Inputs
--   Tables/views named as in MIMIC-IV v2.2: patients, admissions, labevents, d_labitems (hosp/)
--   and icustays, chartevents, d_items (icu/). The loader creates them as views over
--   <mimic_dir>/<module>/<table>.csv.gz (or .csv, or the .parquet copy written by
--   scripts/00_to_parquet.ts), so DuckDB streams the raw events and only hourly aggregates are kept.
--   Variable obs_hours (INTEGER): the observation window, e.g. 24 or 48.
--
--   From the DuckDB CLI (v1.1 or later), with the Parquet copy in /data/mimic-parquet:
--     SET VARIABLE obs_hours = 24;
--     CREATE VIEW patients    AS FROM '/data/mimic-parquet/hosp/patients.parquet';
--     CREATE VIEW admissions  AS FROM '/data/mimic-parquet/hosp/admissions.parquet';
--     CREATE VIEW labevents   AS FROM '/data/mimic-parquet/hosp/labevents.parquet';
--     CREATE VIEW d_labitems  AS FROM '/data/mimic-parquet/hosp/d_labitems.parquet';
--     CREATE VIEW icustays    AS FROM '/data/mimic-parquet/icu/icustays.parquet';
--     CREATE VIEW chartevents AS FROM '/data/mimic-parquet/icu/chartevents.parquet';
--     CREATE VIEW d_items     AS FROM '/data/mimic-parquet/icu/d_items.parquet';
--     .read scripts/01_build_cohort.sql
--
-- Outputs (tables)
--   cohort_chartevents  the chartevents rows used (cohort stays, window, listed itemids)
--   cohort_steps        one row per inclusion step: stays, patients, deaths (stays with label 1)
--   cohort_stays        the cohort: ids, statics, label
--   cohort_hourly       stay_id, hour in [0, obs_hours), variable, value (hourly mean of plausible
--                       values; NULL when every value charted in that hour was implausible),
--                       n_kept, n_removed (raw values outside the plausible range)
--   cohort_item_check   each itemid used, with its label in d_items / d_labitems (NULL = absent),
--                       so a wrong itemid is visible in the report
--
-- No leakage: every feature comes from charttime in [intime, intime + obs_hours); the hour of an
-- event is floor((charttime - intime) / 1 hour), hence always in [0, obs_hours). Labs are binned by
-- charttime (specimen time), as in mimic-code; results stored after the window end still count.

-- ---------------------------------------------------------------------------------------------
-- Item maps. `priority` orders sources of the same variable: within an hour the mean of the
-- best-priority source that has a plausible value is used, the others are ignored.
-- ---------------------------------------------------------------------------------------------

-- chartevents itemids (icu/d_items, MIMIC-IV v2.2; the ids of mimic-code's vitalsign concept, where
-- the "ART BP" items 225309/225310/225312 are arterial-line pressures too, so they share priority 1).
-- Blood pressure: invasive (arterial line, priority 1) is preferred over non-invasive cuff
-- (priority 2) within an hour, because the arterial line is the reference measurement when present;
-- PhysioNet 2012 is merged the same way (src/data/sources/physionet2012.ts).
CREATE OR REPLACE TABLE chart_items AS
SELECT * FROM (VALUES
    (220045, 'heart_rate',  1, 'Heart Rate'),
    (220050, 'sbp',         1, 'Arterial Blood Pressure systolic'),
    (225309, 'sbp',         1, 'ART BP Systolic'),
    (220179, 'sbp',         2, 'Non Invasive Blood Pressure systolic'),
    (220051, 'dbp',         1, 'Arterial Blood Pressure diastolic'),
    (225310, 'dbp',         1, 'ART BP Diastolic'),
    (220180, 'dbp',         2, 'Non Invasive Blood Pressure diastolic'),
    (220052, 'mbp',         1, 'Arterial Blood Pressure mean'),
    (225312, 'mbp',         1, 'ART BP Mean'),
    (220181, 'mbp',         2, 'Non Invasive Blood Pressure mean'),
    (220210, 'resp_rate',   1, 'Respiratory Rate'),
    (224690, 'resp_rate',   1, 'Respiratory Rate (Total)'),
    (220277, 'spo2',        1, 'O2 saturation pulseoxymetry'),
    (223762, 'temperature', 1, 'Temperature Celsius'),
    (223761, 'temperature', 1, 'Temperature Fahrenheit')      -- converted: (F - 32) * 5 / 9
) AS t(itemid, variable, priority, expected_label);

-- GCS components, summed per charttime into the total (only when all three are charted then).
CREATE OR REPLACE TABLE gcs_items AS
SELECT * FROM (VALUES
    (220739, 'eye',    1, 4, 'GCS - Eye Opening'),
    (223900, 'verbal', 1, 5, 'GCS - Verbal Response'),
    (223901, 'motor',  1, 6, 'GCS - Motor Response')
) AS t(itemid, component, lo, hi, expected_label);

-- Admission weight (static): the first charted in the window, kg preferred, then lbs, then daily weight.
CREATE OR REPLACE TABLE weight_items AS
SELECT * FROM (VALUES
    (226512, 1, 1.0,        'Admission Weight (Kg)'),
    (226531, 2, 0.45359237, 'Admission Weight (lbs.)'),
    (224639, 3, 1.0,        'Daily Weight')
) AS t(itemid, priority, to_kg, expected_label);

-- labevents itemids (hosp/d_labitems, MIMIC-IV v2.2). The main-laboratory items are those of
-- mimic-code's chemistry and complete_blood_count concepts; the blood-gas analyser items (bg concept)
-- measure the same quantity on whole blood and are pooled with them within the hour.
CREATE OR REPLACE TABLE lab_items AS
SELECT * FROM (VALUES
    (50813, 'lactate',     1, 'Lactate'),                 -- blood gas
    (50912, 'creatinine',  1, 'Creatinine'),
    (51006, 'bun',         1, 'Urea Nitrogen'),
    (50931, 'glucose',     1, 'Glucose'),                 -- chemistry
    (50809, 'glucose',     1, 'Glucose'),                 -- blood gas
    (51301, 'wbc',         1, 'White Blood Cells'),
    (51300, 'wbc',         1, 'WBC Count'),
    (51222, 'hemoglobin',  1, 'Hemoglobin'),              -- hematology
    (50811, 'hemoglobin',  1, 'Hemoglobin'),              -- blood gas
    (51265, 'platelets',   1, 'Platelet Count'),
    (50983, 'sodium',      1, 'Sodium'),
    (50824, 'sodium',      1, 'Sodium, Whole Blood'),
    (50971, 'potassium',   1, 'Potassium'),
    (50822, 'potassium',   1, 'Potassium, Whole Blood'),
    (50882, 'bicarbonate', 1, 'Bicarbonate')
) AS t(itemid, variable, priority, expected_label);

-- ---------------------------------------------------------------------------------------------
-- Plausible ranges: raw values outside are physiologically impossible (entry or unit errors) and
-- are removed before averaging. They are the outlier limits of the MIMIC-III benchmark
-- (Harutyunyan et al. 2019, mimic3-benchmarks resources/variable_ranges.csv), the same limits as
-- the synthetic cohort's schema (src/data/sources/synthetic-schema.ts), so triggers clamp alike.
--
--   variable      unit         min     max
--   heart_rate    beats/min    0       350
--   sbp           mmHg         0       375
--   dbp           mmHg         0       375
--   mbp           mmHg         14      330
--   resp_rate     breaths/min  0       330
--   spo2          %            0       100
--   temperature   degC         14.2    47      (after Fahrenheit conversion)
--   gcs           points       3       15      (components: eye 1-4, verbal 1-5, motor 1-6)
--   lactate       mmol/L       0.1     30
--   creatinine    mg/dL        0.1     40
--   bun           mg/dL        1       250
--   glucose       mg/dL        10      2200
--   wbc           K/uL         0.1     500
--   hemoglobin    g/dL         1       25
--   platelets     K/uL         1       2000
--   sodium        mEq/L        90      200
--   potassium     mEq/L        1       12
--   bicarbonate   mEq/L        2       60
--   weight        kg           20      300     (static; our limit: the adult extremes seen in ICUs)
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE TABLE plausible_ranges AS
SELECT * FROM (VALUES
    ('heart_rate',  0.0,   350.0),
    ('sbp',         0.0,   375.0),
    ('dbp',         0.0,   375.0),
    ('mbp',         14.0,  330.0),
    ('resp_rate',   0.0,   330.0),
    ('spo2',        0.0,   100.0),
    ('temperature', 14.2,  47.0),
    ('gcs',         3.0,   15.0),
    ('lactate',     0.1,   30.0),
    ('creatinine',  0.1,   40.0),
    ('bun',         1.0,   250.0),
    ('glucose',     10.0,  2200.0),
    ('wbc',         0.1,   500.0),
    ('hemoglobin',  1.0,   25.0),
    ('platelets',   1.0,   2000.0),
    ('sodium',      90.0,  200.0),
    ('potassium',   1.0,   12.0),
    ('bicarbonate', 2.0,   60.0),
    ('weight',      20.0,  300.0)
) AS t(variable, lo, hi);

CREATE OR REPLACE TABLE cohort_item_check AS
SELECT 'chartevents' AS source, m.itemid, m.expected_label, d.label AS found_label
FROM (SELECT itemid, expected_label FROM chart_items
      UNION ALL SELECT itemid, expected_label FROM gcs_items
      UNION ALL SELECT itemid, expected_label FROM weight_items) m
LEFT JOIN d_items d ON d.itemid = m.itemid
UNION ALL
SELECT 'labevents', m.itemid, m.expected_label, d.label
FROM lab_items m
LEFT JOIN d_labitems d ON d.itemid = m.itemid;

-- ---------------------------------------------------------------------------------------------
-- Inclusion steps
-- ---------------------------------------------------------------------------------------------

-- Every ICU stay with its admission and patient. Age at admission follows the MIMIC-IV anchor
-- scheme: anchor_age is the age in anchor_year, so age = anchor_age + (admission year - anchor_year)
-- (anchor_age is capped at 91 for patients older than 89).
CREATE OR REPLACE TABLE icu_stays_all AS
SELECT
    i.subject_id,
    i.hadm_id,
    i.stay_id,
    i.intime,
    i.outtime,
    p.anchor_age + (year(a.admittime) - p.anchor_year) AS age,
    p.gender,
    a.admission_type,
    a.hospital_expire_flag
FROM icustays i
LEFT JOIN admissions a ON a.hadm_id = i.hadm_id
LEFT JOIN patients p ON p.subject_id = i.subject_id;

CREATE OR REPLACE TABLE icu_stays_adult AS
SELECT * FROM icu_stays_all WHERE age >= 18;

-- The first ICU stay (by intime) of each adult patient; later stays are dropped even when the
-- first is then excluded, so each patient contributes at most one, unselected-by-outcome stay.
CREATE OR REPLACE TABLE icu_stays_first AS
SELECT * FROM icu_stays_adult
QUALIFY row_number() OVER (PARTITION BY subject_id ORDER BY intime, stay_id) = 1;

CREATE OR REPLACE TABLE icu_stays_long AS
SELECT * FROM icu_stays_first
WHERE outtime >= intime + to_hours(getvariable('obs_hours'));

CREATE OR REPLACE TABLE cohort_windows AS
SELECT
    subject_id,
    hadm_id,
    stay_id,
    intime,
    intime + to_hours(getvariable('obs_hours')) AS window_end,
    age,
    gender,
    admission_type,
    hospital_expire_flag
FROM icu_stays_long
WHERE hospital_expire_flag IS NOT NULL;

CREATE OR REPLACE TABLE cohort_steps AS
SELECT 1 AS step, 'all ICU stays' AS name, count(*) AS stays, count(DISTINCT subject_id) AS patients,
       count(*) FILTER (WHERE hospital_expire_flag = 1) AS deaths FROM icu_stays_all
UNION ALL
SELECT 2, 'adults (age >= 18 at admission)', count(*), count(DISTINCT subject_id),
       count(*) FILTER (WHERE hospital_expire_flag = 1) FROM icu_stays_adult
UNION ALL
SELECT 3, 'first ICU stay per patient', count(*), count(DISTINCT subject_id),
       count(*) FILTER (WHERE hospital_expire_flag = 1) FROM icu_stays_first
UNION ALL
SELECT 4, concat('ICU stay >= ', getvariable('obs_hours'), ' h'), count(*), count(DISTINCT subject_id),
       count(*) FILTER (WHERE hospital_expire_flag = 1) FROM icu_stays_long
UNION ALL
SELECT 5, 'with in-hospital mortality label', count(*), count(DISTINCT subject_id),
       count(*) FILTER (WHERE hospital_expire_flag = 1) FROM cohort_windows;

-- ---------------------------------------------------------------------------------------------
-- One pass over chartevents (the largest table: over 300 million rows in full MIMIC-IV): the rows of
-- the items above, for cohort stays, inside the window. Everything below reads this small table.
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE TABLE cohort_chartevents AS
SELECT c.stay_id, c.charttime, c.itemid, c.valuenum
FROM chartevents c
JOIN cohort_windows w ON w.stay_id = c.stay_id
WHERE c.itemid IN (SELECT itemid FROM chart_items
                   UNION ALL SELECT itemid FROM gcs_items
                   UNION ALL SELECT itemid FROM weight_items)
  AND c.charttime >= w.intime AND c.charttime < w.window_end
  AND c.valuenum IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Statics
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE TABLE cohort_weight AS
SELECT c.stay_id, c.valuenum * m.to_kg AS weight
FROM cohort_chartevents c
JOIN weight_items m ON m.itemid = c.itemid
JOIN plausible_ranges r ON r.variable = 'weight'
WHERE c.valuenum * m.to_kg BETWEEN r.lo AND r.hi
QUALIFY row_number() OVER (PARTITION BY c.stay_id ORDER BY m.priority, c.charttime) = 1;

CREATE OR REPLACE TABLE cohort_stays AS
SELECT
    w.stay_id,
    w.subject_id,
    w.hadm_id,
    w.age,
    CASE w.gender WHEN 'F' THEN 1 WHEN 'M' THEN 0 END AS sex_female,
    wt.weight,
    w.admission_type,
    w.hospital_expire_flag AS label
FROM cohort_windows w
LEFT JOIN cohort_weight wt ON wt.stay_id = w.stay_id
ORDER BY w.stay_id;

-- ---------------------------------------------------------------------------------------------
-- Hourly series
-- ---------------------------------------------------------------------------------------------
CREATE OR REPLACE TABLE cohort_hourly AS
WITH chart_events AS (
    SELECT
        c.stay_id,
        floor(epoch(c.charttime - w.intime) / 3600)::INTEGER AS hour,
        m.variable,
        m.priority,
        CASE WHEN c.itemid = 223761 THEN (c.valuenum - 32) * 5 / 9 ELSE c.valuenum END AS value
    FROM cohort_chartevents c
    JOIN chart_items m ON m.itemid = c.itemid
    JOIN cohort_windows w ON w.stay_id = c.stay_id
),
gcs_components AS (
    SELECT
        c.stay_id,
        c.charttime,
        floor(epoch(c.charttime - w.intime) / 3600)::INTEGER AS hour,
        -- A component outside its own scale makes the total invalid (NULL, counted as removed).
        max(CASE WHEN g.component = 'eye'    THEN CASE WHEN c.valuenum BETWEEN g.lo AND g.hi THEN c.valuenum ELSE 'NaN'::DOUBLE END END) AS eye,
        max(CASE WHEN g.component = 'verbal' THEN CASE WHEN c.valuenum BETWEEN g.lo AND g.hi THEN c.valuenum ELSE 'NaN'::DOUBLE END END) AS verbal,
        max(CASE WHEN g.component = 'motor'  THEN CASE WHEN c.valuenum BETWEEN g.lo AND g.hi THEN c.valuenum ELSE 'NaN'::DOUBLE END END) AS motor
    FROM cohort_chartevents c
    JOIN gcs_items g ON g.itemid = c.itemid
    JOIN cohort_windows w ON w.stay_id = c.stay_id
    GROUP BY c.stay_id, c.charttime, w.intime
),
gcs_events AS (
    SELECT stay_id, hour, 'gcs' AS variable, 1 AS priority,
           CASE WHEN isnan(eye + verbal + motor) THEN NULL ELSE eye + verbal + motor END AS value
    FROM gcs_components
    WHERE eye IS NOT NULL AND verbal IS NOT NULL AND motor IS NOT NULL
),
lab_events AS (
    -- labevents has no stay_id: a lab belongs to the stay of the same patient whose window holds
    -- its charttime (and, when the lab has an hadm_id, to the same admission).
    SELECT
        w.stay_id,
        floor(epoch(l.charttime - w.intime) / 3600)::INTEGER AS hour,
        m.variable,
        m.priority,
        l.valuenum AS value
    FROM labevents l
    JOIN lab_items m ON m.itemid = l.itemid
    JOIN cohort_windows w ON w.subject_id = l.subject_id
    WHERE l.charttime >= w.intime AND l.charttime < w.window_end
      AND (l.hadm_id IS NULL OR l.hadm_id = w.hadm_id)
      AND l.valuenum IS NOT NULL
),
events AS (
    SELECT * FROM chart_events
    UNION ALL SELECT * FROM gcs_events
    UNION ALL SELECT * FROM lab_events
),
by_source AS (
    SELECT
        e.stay_id,
        e.hour,
        e.variable,
        e.priority,
        avg(e.value) FILTER (WHERE e.value BETWEEN r.lo AND r.hi) AS value,
        count(*) FILTER (WHERE e.value BETWEEN r.lo AND r.hi) AS n_kept,
        count(*) FILTER (WHERE NOT coalesce(e.value BETWEEN r.lo AND r.hi, false)) AS n_removed
    FROM events e
    JOIN plausible_ranges r ON r.variable = e.variable
    GROUP BY e.stay_id, e.hour, e.variable, e.priority
)
SELECT
    stay_id,
    hour,
    variable,
    value,
    n_kept,
    sum(n_removed) OVER (PARTITION BY stay_id, hour, variable) AS n_removed
FROM by_source
QUALIFY row_number() OVER (PARTITION BY stay_id, hour, variable ORDER BY n_kept > 0 DESC, priority) = 1
ORDER BY stay_id, hour, variable;
