/**
 * Free space on the data directory's filesystem (spool, embedded engine,
 * backups): the one place it is measured, for the metrics, `palisade doctor`
 * and the housekeeper's check before a scratch restore.
 */
import { statfsSync } from 'node:fs';

export interface DiskSpace {
  /** Bytes available to this (unprivileged) process. */
  freeBytes: number;
  totalBytes: number;
  /** freeBytes / totalBytes; 0 on a filesystem that reports no size. */
  freeRatio: number;
}

export function diskSpace(dir: string): DiskSpace {
  const st = statfsSync(dir);
  const totalBytes = st.blocks * st.bsize;
  const freeBytes = st.bavail * st.bsize;
  return { freeBytes, totalBytes, freeRatio: totalBytes > 0 ? freeBytes / totalBytes : 0 };
}

export function freeBytes(dir: string): number {
  return diskSpace(dir).freeBytes;
}
