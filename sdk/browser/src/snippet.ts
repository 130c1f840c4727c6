/**
 * The classic script (/sdk/palisade.js). The copy-paste loader defines
 * `window.palisade` as an array whose methods push [method, args, time];
 * this replaces it with the real client and replays those calls in order,
 * init first. The host defaults to the origin the script was loaded from.
 */
import { Palisade } from './client.ts';

type Call = [string, unknown[], number?];
const w = window as unknown as { palisade?: Call[] | Palisade };
const stub = w.palisade;

if (!(stub instanceof Palisade)) {
  const src = (document.currentScript as HTMLScriptElement | null)?.src;
  const client = new Palisade(src ? new URL(src).origin : '');
  w.palisade = client;
  const calls = Array.isArray(stub) ? stub : [];
  for (const [m, args] of calls) if (m === 'init') client.init(...(args as Parameters<Palisade['init']>));
  for (const [m, args, at] of calls) if (m !== 'init') client.call(m, args, at);
}
