/**
 * The tfjs kernels a full training step (forward, gradients, Adam), evaluation and every detector call, for
 * every model, as recorded on the wasm backend by tests/torch-backend.test.ts (which fails when a model starts
 * calling a kernel missing here). `--backend auto` takes torch only when it registers all of them.
 */
export const TORCH_REQUIRED_KERNELS: readonly string[] = [
  'Abs', 'Add', 'AddN', 'BatchMatMul', 'Cast', 'Concat', 'Exp', 'Fill', 'Floor', 'GatherV2', 'Identity', 'Log1p', 'Mean',
  'Multiply', 'Neg', 'PadV2', 'RealDiv', 'Relu', 'Reshape', 'Rsqrt', 'Sigmoid', 'Sign', 'Slice', 'Softmax', 'SplitV', 'Sqrt',
  'Square', 'Step', 'Sub', 'Sum', 'Transpose', 'Unpack', 'ZerosLike', '_FusedMatMul',
];
