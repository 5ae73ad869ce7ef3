import { readlinkSync } from 'node:fs';
import type * as net from 'node:net';

/**
 * The kernel inode of a socket's file descriptor (`/proc/self/fd/N` → `socket:[INODE]`), the
 * one key that ties a Node socket to a kernel row without doubt. Undefined off Linux or once
 * the handle is gone. readlink is one cheap syscall; callers ask only for matched rows.
 */
export function socketInode(socket: net.Socket): number | undefined {
  const fd = (socket as net.Socket & { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}
