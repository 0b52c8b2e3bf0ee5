'use strict';
// Loads the addon built at install time (scripts/build.cjs) and names the op codes it understands.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const addon = join(__dirname, 'build', 'Release', 'tfjs_backend_torch.node');
let native;
try {
  native = require(addon);
} catch (err) {
  const reason = err && err.code === 'MODULE_NOT_FOUND' ? 'the addon was not built at install (npm rebuild tfjs-backend-torch builds it)' : String(err && err.message).split('\n')[0];
  throw new Error(`tfjs-backend-torch: ${reason}`);
}

/** Codes of the addon's elementwise ops, reductions and activations (src/addon.cc, same order). */
const UNARY = Object.freeze(Object.fromEntries(
  ['Abs', 'Exp', 'Floor', 'Log1p', 'Neg', 'Relu', 'Sigmoid', 'Sqrt', 'Square', 'Rsqrt', 'Step', 'Tanh', 'Log', 'ZerosLike', 'OnesLike', 'Ceil', 'Round', 'Reciprocal', 'Sign', 'Elu', 'Relu6', 'LeakyRelu', 'LogicalNot', 'Softplus', 'IsNan', 'Expm1']
    .map((name, code) => [name, code])));
const BINARY = Object.freeze(Object.fromEntries(
  ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'Pow', 'SquaredDifference', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'FloorDiv', 'Mod']
    .map((name, code) => [name, code])));
const REDUCE = Object.freeze({ Sum: 0, Mean: 1, Max: 2, Min: 3, Prod: 4, Any: 5, All: 6, ArgMax: 7, ArgMin: 8 });
const ACTIVATION = Object.freeze({ linear: 0, relu: 1, sigmoid: 2, elu: 3, relu6: 4, leakyrelu: 5, tanh: 6 });
const DTYPE = Object.freeze({ float32: 0, int32: 1, bool: 2 });

/**
 * Which BLAS library the process loaded (Debian selects libblas.so.3 with update-alternatives):
 * 'openblas', 'mkl', 'reference', or 'unknown'; read from the process's memory map, as the PyTorch
 * reference script does.
 */
function loadedBlas() {
  let maps;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return { name: 'unknown', path: null };
  }
  const paths = [...new Set(maps.split('\n').map((l) => l.trim().split(/\s+/).at(-1)).filter((p) => p && (/\/lib(open)?blas[^/]*\.so/.test(p) || p.includes('/libmkl'))))];
  const path = paths.find((p) => p.includes('openblas')) ?? paths.find((p) => p.includes('mkl')) ?? paths[0] ?? null;
  const name = path === null ? 'unknown' : path.includes('openblas') ? 'openblas' : path.includes('mkl') ? 'mkl' : path.includes('/blas/') ? 'reference' : 'unknown';
  return { name, path };
}

module.exports = { native, UNARY, BINARY, REDUCE, ACTIVATION, DTYPE, loadedBlas };
