import cluster from 'node:cluster';

/**
 * True in a `cluster` worker. Workers share their listening sockets (the primary owns the
 * socket under round-robin scheduling, or hands the same one to every worker), so each worker
 * sees the same kernel figures for a port: per-port figures are marked `tcp.listener.shared`.
 */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}
