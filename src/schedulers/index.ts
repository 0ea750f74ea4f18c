/**
 * Schedulers: the catalog of the kernel's IPVS schedulers, which ones this
 * kernel has, and a placement simulator that follows the kernel's code.
 * See docs/schedulers.md.
 * @module
 */
export {
  SCHEDULERS,
  availableSchedulers,
  schedulerInfo,
  schedulerOfFlag,
  type AvailableScheduler,
  type AvailableSchedulersOptions,
  type NamedSchedulerFlag,
  type SchedulerAvailability,
  type SchedulerInfo,
} from './catalog.js';
export {
  SIMULATED_SCHEDULERS,
  destinationId,
  simulate,
  wrrStartState,
  type OverheadFormula,
  type SimConnection,
  type SimDestination,
  type SimulateOptions,
  type SimulationResult,
  type WrrState,
} from './simulate.js';
export { rrPositionAfterDelete, wrrDestChanged } from './round-robin.js';
export { remap, type Move, type PoolState, type RemapCount, type RemapResult } from './remap.js';
export { foldAddress, hash32, hsiphash32, MH_KEY1, MH_KEY2, type HsiphashKey } from './hash.js';
export { buildDhTable, buildMhTable, buildShTable, mhTableSize, type TableDestination } from './tables.js';
