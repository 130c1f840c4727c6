import type { HttpBindings } from '@hono/node-server';
import type { Principal } from '../auth/authenticator.ts';

export interface Variables {
  requestId: string;
  clientIp: string;
  principal?: Principal;
  /** Set by a handler that wrote its own audit entry, so the admin audit middleware does not add another. */
  audited?: boolean;
  /** Set by the admin-token middleware once the admin token matched (the credential kind in palisade_http_requests_total). */
  adminAuthenticated?: boolean;
  /** The request's JSON body, read once (middleware/json-body.ts) and shared by key auth and the handler. */
  jsonBody?: Promise<unknown>;
  /** That body's size in bytes once read (decompressed). */
  jsonBodyBytes?: number;
  /** What a query call ran, for its audit line (set by the query handler, read by the query report middleware). */
  queryKind?: string;
  queryRows?: number;
}

export type Env = { Bindings: Partial<HttpBindings>; Variables: Variables };
