/**
 * The director daemon's library: its configuration, the reload planner, the
 * {@link Director} engine and its metrics (what `ipvs-ts run` is made of).
 * @module
 */
export { ON_EXIT, parseListen, serviceId, validateDirectorConfig, type DirectorConfig, type DirectorHealth, type DirectorMetrics, type OnExit, type ValidatedConfig } from './config.js';
export { CONFIG_FORMATS, ConfigSyntaxError, configFromImport, detectConfigFormat, parseDirectorConfig, type ConfigFormat, type LoadedConfig, type ParseConfigOptions } from './load-config.js';
export { exitPlan, ownedPart, reloadPlan, wantedTable } from './reload-plan.js';
export { Director, type DirectorCounters, type DirectorEvent, type DirectorIpvs, type DirectorEngineOptions, type DirectorPhase } from './director.js';
export { directorMetricFamilies, directorRegistry, failoverFamilies, serveMetrics } from './metrics.js';
export { DirectorHostSetup, validateHost, type DirectorHostConfig, type HostChange } from './host.js';
export { failoverProblems, type DirectorFailoverConfig, type DirectorPingTracker, type DirectorSyncDaemon } from './failover-config.js';
export { DirectorFailover, failoverIdentity, type DirectorFailoverOptions } from './failover.js';
export { StandbyIpvs } from './standby-ipvs.js';
export { ownedTable, takeoverTable, type OwnedTableOptions } from './owned-table.js';
export { draftFailover, failoverDraftWarning, type FailoverDraft } from './import-failover.js';
export { IMPORTED_FORMATS, importReferenceProblems, markImportedProblems, mergeImport, type ImportedFormat, type ImportReference, type MergedImport } from './import-config.js';
export { inverseOperations, ReloadRefusedError, reloadSends, sendReload, type ReloadIpvs, type ReloadSent } from './reload-rollback.js';
