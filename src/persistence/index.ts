/**
 * Persistence: the kernel's connection table and its persistence templates,
 * and the granularity math of persistent services. See docs/schedulers.md.
 * @module
 */
export { parseConnectionLine, readConnectionBatches, readConnections, type IpvsConnection, type ReadConnectionsOptions } from './connections.js';
export { clientsPerTemplate, persistenceNetwork, shareTemplate } from './granularity.js';
export { ConnectionTable, type DestinationConnections } from './table.js';
