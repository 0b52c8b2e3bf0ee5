export { Rng, deriveRng, deriveIntSeed } from './rng.js';
export type { RngState } from './rng.js';
export { BACKEND_CHOICES, selectBackend, backendVersions, setDefaultThreads } from './backend.js';
export type { BackendChoice, BackendInfo, BackendVersions, SelectBackendOptions } from './backend.js';
export { patchWasmMatMul, unpatchWasmMatMul, isWasmMatMulPatched } from './wasm-matmul.js';
export { patchWasmSlice, unpatchWasmSlice, isWasmSlicePatched } from './wasm-slice.js';
