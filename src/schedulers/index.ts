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
