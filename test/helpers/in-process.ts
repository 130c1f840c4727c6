/**
 * Both Hono apps of one Palisade node, built in-process from real parts (an
 * embedded chDB in a temp dir, the real ControlPlane, KeyTable, Authenticator,
 * Spool, Flusher, audit log, backups, edge hardening, query service), for
 * `app.request()` tests: no port, no TLS, no child process. chDB binds one
 * data directory per process, so a test file builds one node in its `before`
 * hook (`before(() => node.open())`) and shares it, keeping apart by tenant.
 * It is composed the way src/server.ts composes a node; what needs a process
 * (TLS, signals, durability across a crash, the CLI) stays in test/*.int.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type { Hono } from 'hono';
import { Registry } from 'prom-client';
import { AccessWatch } from '../../src/anomaly/watch.ts';
import type { KeyTable } from '../../src/auth/key-table.ts';
import { loadConfig, type Config } from '../../src/config/index.ts';
import type { ControlPlane } from '../../src/control/control-plane.ts';
import { AppError, ErrorCode } from '../../src/errors/index.ts';
import { createAdminApp, createApiApp, type AppDeps } from '../../src/http/app.ts';
import { QueryAuditTrail } from '../../src/audit/query-audit.ts';
import type { Env } from '../../src/http/types.ts';
import { IngestService } from '../../src/ingest/service.ts';
import { WarningsLedger } from '../../src/ingest/warnings.ts';
import { createLogger } from '../../src/log/index.ts';
import { registerStageMetrics } from '../../src/metrics/stage-metrics.ts';
import { openAuditModule } from '../../src/modules/audit.ts';
import { EdgeModule } from '../../src/modules/edge.ts';
import { GovernanceModule } from '../../src/modules/governance.ts';
import { QueryService } from '../../src/query/service.ts';
import { openSecrets } from '../../src/secrets/provider.ts';
import { Flusher } from '../../src/spool/flusher.ts';
import { Spool } from '../../src/spool/spool.ts';
import { ChdbWarehouse } from '../../src/storage/chdb-warehouse.ts';
import { EventWriter } from '../../src/storage/event-writer.ts';
import { migrate } from '../../src/storage/migrations.ts';
import { jsonOrText, type HttpResult, type Palisade } from './palisade.ts';

export interface Response<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface TenantWithKeys {
  tenant: { id: string; name: string; allowedOrigins: string[] };
  keys: { ingest: string; browser: string; query: string };
}

export interface InProcessNode {
  api: Hono<Env>;
  admin: Hono<Env>;
  adminToken: string;
  config: Config;
  control: ControlPlane;
  keys: KeyTable;
  warehouse: ChdbWarehouse;
  flusher: Flusher;
  /** Writes the spool's events to ClickHouse now (the flusher does not run on a timer here). */
  flush(): Promise<void>;
  refreshKeys(): Promise<void>;
  /** Writes the audit entries buffered by `record` (reads of the trail see them after this). */
  flushAudit(): Promise<void>;
  /** Shutting down: ingestion answers 503 while set. */
  setDraining(on: boolean): void;
  /** A call to the API app; `body` is sent as JSON. */
  call<T = unknown>(method: string, route: string, o?: { body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> }): Promise<Response<T>>;
  /** A call to the admin app with the admin token (unless `headers` says otherwise). */
  adminCall<T = unknown>(method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<Response<T>>;
  createTenant(name: string, allowedOrigins?: string[]): Promise<TenantWithKeys>;
  /** A fresh key of `scope` for the tenant, already revoked. */
  revokedKey(tenantId: string, scope: 'ingest' | 'browser' | 'query'): Promise<string>;
}

async function read<T>(res: globalThis.Response): Promise<Response<T>> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: the text */
  }
  return { status: res.status, headers: res.headers, body: body as T, text };
}

/** Declares the node for this file; `open()` builds it (call it in `before`), it is torn down after the file's tests. */
export function inProcessNode(o: { env?: Record<string, string> } = {}): { open(): Promise<InProcessNode> } {
  let opened: Promise<{ node: InProcessNode; close(): Promise<void> }> | undefined;
  after(async () => {
    if (opened) await (await opened).close();
  });
  return { open: async () => (await (opened ??= buildNode(o))).node };
}

/**
 * A node built and torn down by the caller (`close()`), logging at info level
 * into `output` as the spawned server logs to its stdout.
 */
export async function buildNode(o: { env?: Record<string, string>; output?: string[] } = {}): Promise<{ node: InProcessNode; dir: string; close(): Promise<void> }> {
  const closers: (() => Promise<unknown>)[] = [];
  const dir = await mkdtemp(path.join(tmpdir(), 'palisade-http-'));
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    closers.length = 0;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    return { node: await build(), dir, close };
  } catch (err) {
    await close();
    throw err;
  }

  async function build(): Promise<InProcessNode> {
    const config = loadConfig({
      PALISADE_DATA_DIR: dir,
      // Every request here comes from the same (empty) address: keep the failed-auth
      // cool-down for the tests that exercise it, not for a suite of refusals.
      PALISADE_AUTH_FAIL_IP_MAX: '100000',
      PALISADE_AUTH_FAIL_TARPIT_MS: '0',
      PALISADE_DASHBOARD_ORIGINS: 'https://dash.example',
      // As the spawned harness (helpers/palisade.ts) runs its servers.
      PALISADE_FLUSH_INTERVAL_MS: '100',
      ...o.env,
    });
    const output = o.output;
    const logger = output ? createLogger('info', { write: (line: string) => void output.push(...line.split('\n').filter((l) => l !== '')) }) : createLogger('silent');
    const secretsProvider = await openSecrets(config, logger);
    const secrets = secretsProvider.current();
    const warehouse = await ChdbWarehouse.open({
      path: path.join(dir, 'clickhouse'),
      database: config.clickhouse.database,
      diskKeyHex: randomBytes(32).toString('hex'),
      backupsPath: path.join(dir, 'backups'),
      timeoutMs: 30_000,
    });
    closers.push(() => warehouse.close());
    await migrate(warehouse);
    const auditModule = await openAuditModule(config, warehouse, logger);
    closers.push(() => auditModule.audit.stop());
    const { spool } = await Spool.open({
      dir: path.join(dir, 'spool'),
      keys: new Map(Object.entries(secrets.spoolKeys).map(([id, hex]) => [id, Buffer.from(hex, 'hex')])),
      currentKeyId: secrets.spoolKeyId,
      fsync: config.spool.fsync,
      maxBytes: config.spool.maxBytes,
    });
    closers.push(() => spool.close());
    const audit = auditModule.audit;
    // The edge as src/modules/edge.ts builds it (key table loaded once; no refresh timer here).
    const edge = await EdgeModule.open({ config, logger, warehouse, secrets: secretsProvider, adminToken: secrets.adminToken, audit });
    const { control, keys, auth, refreshKeys } = edge;
    const warnings = new WarningsLedger(warehouse, logger);
    warnings.start();
    closers.push(() => warnings.stop({ timeoutMs: 1_000 }));
    const flusher = new Flusher({ spool, writer: new EventWriter(warehouse), warehouse, logger, intervalMs: config.flush.intervalMs, maxRows: config.flush.maxRows, backoffMaxMs: config.flush.backoffMaxMs });
    flusher.start();
    closers.push(() => flusher.stop({ deadlineMs: 0 }));
    const ingest = new IngestService({ spool, warnings, limits: config.limits, privacy: edge.privacy.forRequest });
    const queries = new QueryService({ warehouse, limits: config.query, caps: (id) => keys.tenant(id)?.settings?.query });
    const adminTok = secrets.adminToken;
    // Governance as src/modules/governance.ts builds it; not started (no housekeeper or chain monitor here).
    const governance = new GovernanceModule({
      config,
      logger,
      warehouse,
      audit,
      backups: auditModule.backups,
      control,
      auth,
      adminToken: adminTok,
      adminActor: edge.adminActor,
      refreshKeys,
      flushAcknowledged: async () => {
        await flusher.flushOnce();
        return true;
      },
      supportQuery: async (tenantId, body) => {
        const r = await queries.run({ tenantId, keyId: 'support', scope: 'query' }, body);
        return { kind: r.kind, rows: r.rows, result: r.result };
      },
      openRead: (tenantId, lane) => queries.openRead(tenantId, lane),
    });
    const gov = governance.appDeps();
    audit.start();
    const registry = new Registry();
    const stages = registerStageMetrics(registry);
    let draining = false;
    const edgeDeps = edge.appDeps(() => 443);
    const deps: AppDeps = {
      logger,
      trustedProxies: config.trustedProxies,
      ingest: {
        auth,
        keys,
        ingest,
        limits: config.limits,
        edgeLimits: edgeDeps.limits,
        accepting: () => (draining ? new AppError(ErrorCode.UNAVAILABLE, 'shutting down; retry against another edge', { retryAfter: 1 }) : spool.isFull() ? new AppError(ErrorCode.SPOOL_FULL, 'the local spool is full; retry shortly', { retryAfter: 5 }) : undefined),
        onAccepted: audit.acceptedEvents,
      },
      query: {
        auth,
        query: queries,
        dashboardOrigins: config.dashboardOrigins,
        // As src/modules/query.ts: a metadata-only log line and an audit entry per call.
        onQuery: new QueryAuditTrail(audit, logger).record,
      },
      admin: {
        adminToken: adminTok,
        control,
        refreshKeys,
        health: async () => ({ status: 'ok', keys: keys.size, spool: spool.stats(), flusher: flusher.status(), ...governance.health() }),
        metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
        doctor: async () => ({ checks: [] }),
      },
      governance: gov,
      edge: edgeDeps,
      httpMetrics: stages,
      anomaly: config.anomaly ? { watch: new AccessWatch({ policy: config.anomaly, report: () => undefined }) } : undefined,
      ready: async () => ({ ready: !draining, checks: { draining } }),
    };
    const api = createApiApp(deps);
    const admin = createAdminApp(deps);

    const request = async <T>(app: Hono<Env>, method: string, route: string, headers: Record<string, string>, body?: string | Uint8Array) =>
      read<T>(await app.request(route, { method, headers, body: body as BodyInit | undefined }));
    const node: InProcessNode = {
      api,
      admin,
      adminToken: adminTok,
      config,
      control,
      keys,
      warehouse,
      flusher,
      flush: async () => {
        await flusher.flushOnce();
      },
      refreshKeys,
      flushAudit: () => audit.flush(),
      setDraining: (on) => void (draining = on),
      call: (method, route, opts = {}) =>
        request(api, method, route, { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers }, opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined)),
      adminCall: (method, route, body, headers) =>
        request(admin, method, route, headers ?? { authorization: `Bearer ${adminTok}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body !== undefined ? JSON.stringify(body) : undefined),
      createTenant: async (name, allowedOrigins = []) => {
        const r = await node.adminCall<TenantWithKeys>('POST', '/admin/tenants', { name, allowedOrigins });
        if (r.status !== 201) throw new Error(`tenant create failed: ${r.status} ${r.text}`);
        return r.body;
      },
      revokedKey: async (tenantId, scope) => {
        const created = await control.createKey(tenantId, scope);
        await control.revokeKey(created.key.id);
        await refreshKeys();
        return created.token;
      },
    };
    return node;
  }
}

/** HTTP Basic with the key as the user name, as the Segment-style SDKs send it. */
export function basic(token: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}` };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** What a spawned server's handle (helpers/palisade.ts) offers that a route test uses, served in-process. */
export interface InProcessPalisade extends Pick<Palisade, 'dataDir' | 'adminToken' | 'output' | 'api' | 'admin' | 'kill' | 'apiPort'> {
  node: InProcessNode;
  /** A call to the admin app with the given headers only (no admin token added). */
  adminWith(method: string, route: string, headers: Record<string, string>): Promise<HttpResult>;
}

function headerRecord(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((value, name) => (out[name] = value));
  return out;
}

async function resultOfResponse<T>(res: globalThis.Response): Promise<HttpResult<T>> {
  const text = await res.text();
  return { status: res.status, headers: headerRecord(res.headers), body: jsonOrText(text) as T, text };
}

/** The port in the Host header of in-process API calls: nothing listens on it. */
const API_PORT = 8443;

/**
 * A node with the spawned harness's call shape (`p.api`, `p.admin`,
 * `p.output`, `p.kill`), so a suite that needs no process moves in-process
 * by changing how it starts, its assertions untouched. `kill()` closes it
 * and removes its directory.
 */
export async function startInProcess(o: { env?: Record<string, string> } = {}): Promise<InProcessPalisade> {
  const output: string[] = [];
  const { node, dir, close } = await buildNode({ env: o.env, output });
  const call = async <T>(app: Hono<Env>, method: string, route: string, headers: Record<string, string>, body?: Buffer | string) =>
    resultOfResponse<T>(await app.request(route, { method, headers, body: body as BodyInit | undefined }));
  return {
    node,
    apiPort: API_PORT,
    dataDir: dir,
    adminToken: node.adminToken,
    output,
    api: (method, route, opts = {}) => {
      // The Host an HTTPS client sends (the query API's own origin is https://<Host>).
      const headers: Record<string, string> = { host: `localhost:${API_PORT}`, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers };
      return call(node.api, method, route, headers, opts.raw ?? (opts.body !== undefined ? JSON.stringify(opts.body) : undefined));
    },
    admin: (method, route, body) =>
      call(node.admin, method, route, { authorization: `Bearer ${node.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body !== undefined ? JSON.stringify(body) : undefined),
    adminWith: (method, route, headers) => call(node.admin, method, route, headers),
    kill: close,
  };
}
