import type { HttpBindings } from '@hono/node-server';
import type { Principal } from '../auth/authenticator.ts';

export interface Variables {
  requestId: string;
  clientIp: string;
  principal?: Principal;
}

export type Env = { Bindings: Partial<HttpBindings>; Variables: Variables };
