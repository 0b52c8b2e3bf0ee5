export * from './grid.js';
export * from './setup.js';
export * from './all.js';
