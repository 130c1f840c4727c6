/**
 * CPU time of a child process from /proc, shared by the benchmark tables
 * (bench/run.ts, bench/ceiling.ts, bench/scale-out.ts).
 */
import { readFile } from 'node:fs/promises';

/** utime + stime of a process, every thread included, in seconds (/proc/<pid>/stat fields 14 and 15). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  // USER_HZ is 100 on every Linux this runs on (getconf CLK_TCK).
  return ticks / 100;
}
