// The training engine's public API: build a model, train or distill it, predict, export, checkpoint.
export { buildModel, parameterCount, type Model, type BuildModelOptions } from './model.ts';
export { type ModelSpec, type LayerSpec, referenceSpec, validateSpec } from './model-spec.ts';
export { Trainer, type TrainerOptions, type FitOptions, type DistillData, type Progress, type EpochResult } from './trainer.ts';
export { type OptimizerConfig } from './optimizers.ts';
export { type LossConfig } from './losses.ts';
export { type LrSchedule, lrAt } from './lr-schedule.ts';
export { exportOnnx, inferenceModelBytes, loadOnnxTeacher, softmaxRows, accuracyOf, type OnnxTeacher, type Predictions } from './inference.ts';
export { saveCheckpoint, loadCheckpoint } from './checkpoint.ts';
export { resolveDevice, DEVICES, type Device, type DeviceRequest } from './runtime.ts';
