export * from './layout.js';
export * from './format.js';
export * from './records.js';
export * from './predictions.js';
export * from './detection-records.js';
export * from './summary.js';
export * from './collection.js';
export * from './lock.js';
