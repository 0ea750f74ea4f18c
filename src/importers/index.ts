/**
 * Importers: other load balancers' configuration files read into ipvs-ts
 * JSON (a desired table, checks, failover settings, warnings).
 * @module
 */
export { importLdirectord } from './ldirectord.js';
export { importPiranha } from './piranha.js';
export { importKeepalived } from './keepalived.js';
export { ImportError, type ImportedCheck, type ImportedHealth, type ImportOptions, type ImportResult, type ImportWarning } from './types.js';
