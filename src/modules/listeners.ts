/**
 * The listeners, last in the list: the API and admin HTTPS listeners and the
 * optional plain-HTTP one that only refuses. They listen when started, after
 * the spool has recovered, the key table is loaded and the flusher runs; at
 * shutdown they drain first (new requests get 503 + Retry-After, admitted
 * ones finish, so every 200 has its events in the fsync'd spool) and close
 * their sockets after the flush-out.
 */
import type { Config } from '../config/index.ts';
import { createAdminApp, createApiApp, type AppDeps } from '../http/app.ts';
import { createPlainHttpApp } from '../http/insecure-transport.ts';
import { listenHttp, listenHttps, type Listener } from '../http/listen.ts';
import type { Logger } from '../log/index.ts';
import type { StageMetrics } from '../metrics/stage-metrics.ts';
import type { TlsMaterial } from '../tls/certificate.ts';
import type { Module, StopBudget } from '../runner.ts';
import type { EdgeModule } from './edge.ts';
import type { GovernanceModule } from './governance.ts';
import type { IngestionModule } from './ingestion.ts';
import type { OperationsModule } from './operations.ts';
import type { QueryModule } from './query.ts';
import type { AuditModule } from './audit.ts';

export interface ListenersOptions {
  config: Config;
  logger: Logger;
  tls: TlsMaterial;
  adminToken: string;
  stages: StageMetrics;
  audit: AuditModule;
  edge: EdgeModule;
  ingestion: IngestionModule;
  query: QueryModule;
  governance: GovernanceModule;
  operations: OperationsModule;
}

/** The HTTP layer's dependencies, each a service or a method of the module that owns the state. */
export function appDeps(o: Omit<ListenersOptions, 'tls'>, httpsPort: () => number): AppDeps {
  const { config, edge, ingestion, query, operations } = o;
  const edgeDeps = edge.appDeps(httpsPort);
  return {
    logger: o.logger,
    trustedProxies: config.trustedProxies,
    ingest: {
      auth: edge.auth,
      keys: edge.keys,
      ingest: ingestion.service,
      limits: config.limits,
      edgeLimits: edgeDeps.limits,
      accepting: ingestion.admission.accepting,
      onAccepted: o.audit.audit.acceptedEvents,
    },
    query: {
      auth: edge.auth,
      query: query.service,
      dashboardOrigins: config.dashboardOrigins,
      onQuery: query.trail.record,
    },
    admin: {
      adminToken: o.adminToken,
      control: edge.control,
      refreshKeys: edge.refreshKeys,
      health: operations.healthPage,
      metrics: operations.metrics,
      doctor: operations.doctor,
    },
    governance: o.governance.appDeps(),
    edge: edgeDeps,
    httpMetrics: o.stages,
    anomaly: edge.anomalies ? { watch: edge.anomalies, countryHeader: config.anomaly?.countryHeader } : undefined,
    ready: operations.ready,
  };
}

export class ListenersModule implements Module {
  readonly name = 'listeners';
  api: Listener | undefined;
  admin: Listener | undefined;
  plain: Awaited<ReturnType<typeof listenHttp>> | undefined;
  /** Whether every admitted request finished before the drain deadline (for the 'palisade stopped' log line). */
  inFlightFinished = true;
  private readonly deps: AppDeps;

  constructor(private readonly o: ListenersOptions) {
    this.deps = appDeps(o, () => this.httpsPort());
  }

  /** Where a plain-HTTP caller is told to go: behind a load balancer it differs from the port bound here. */
  private httpsPort(): number {
    return this.o.config.edge.publicHttpsPort ?? this.api?.port ?? this.o.config.port;
  }

  async start(): Promise<void> {
    const { config, tls, stages } = this.o;
    const limits = this.o.edge.connectionLimits;
    const https = { cert: tls.cert, key: tls.key, limits };
    this.api = await listenHttps(createApiApp(this.deps), { host: config.host, port: config.port, ...https, onParserRefusal: (s) => stages.parserRefusal('api', s) });
    this.admin = await listenHttps(createAdminApp(this.deps), { host: config.adminHost, port: config.adminPort, ...https, onParserRefusal: (s) => stages.parserRefusal('admin', s) });
    const insecure = this.deps.edge?.insecure;
    if (config.edge.plainHttp && insecure) this.plain = await listenHttp(createPlainHttpApp(insecure), { ...config.edge.plainHttp, limits });
  }

  async drain(budget: StopBudget): Promise<void> {
    this.o.ingestion.admission.refuseNew();
    this.inFlightFinished = (await this.api?.drain(budget.drainBy)) ?? true;
  }

  async stop(budget: StopBudget): Promise<void> {
    await Promise.all([this.api?.close(budget.closeBy), this.admin?.close(budget.closeBy), this.plain?.close(budget.closeBy)]);
  }
}
