/**
 * The kernel query the poll builds from its consumers' needs. The query, its union and its
 * row matcher live with the kernel sources (`observe/kernel/query.ts`); re-exported here for
 * the poll's callers.
 */
export { MAX_FILTER_PORTS, matcher, rowsFor, unionOf, type KernelNeed } from '../observe/kernel/query.js';
