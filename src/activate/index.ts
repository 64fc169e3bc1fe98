/**
 * Activation: dvm-vol-activate (LVs -> desired dm state) and dvm-dmactivate
 * (current + desired dm state -> dm program), plus a model executor for
 * programs. All pure.
 */
export { foundRefMap, indexState, mapTableDevices, sameTable } from "./canon.js";
export { checkDmState } from "./check.js";
export { dmName, dmUuid, escapeDmPart, mapperPath, vgUuidPrefix } from "./names.js";
export { type PlanOptions, planActivation } from "./plan.js";
export {
  moduleFor,
  type SegArea,
  type SegContext,
  type SegTypeModule,
  segTypeModule,
  supportedSegTypes,
} from "./segtypes/index.js";
export { type SimOptions, type SimResult, type SimStep, simulateProgram } from "./simulate.js";
export { type ActivateOptions, desiredState } from "./vol.js";
