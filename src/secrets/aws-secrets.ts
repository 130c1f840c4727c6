/**
 * Service secrets from AWS Secrets Manager: the secret's SecretString is the
 * JSON of SecretsSchema (file-secrets.ts). Fetched once at start (a failure
 * there stops start-up with a message naming the secret and the fix), cached,
 * and fetched again every `refreshMs` so a rotated secret reaches the node
 * without a restart. A failed refresh keeps the last good value and is
 * reported (a counter and a warning that names the error class, never a
 * value or the SDK's message, which can quote the request).
 */
import { createHash } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Logger } from '../log/index.ts';
import { SecretsError, SecretsSchema, type ServiceSecrets } from './file-secrets.ts';

export interface AwsSecretsOptions {
  secretId: string;
  region?: string;
  endpoint?: string;
  refreshMs: number;
  logger: Logger;
  /** Tests pass a client whose `send` is mocked (aws-sdk-client-mock); otherwise one is built. */
  client?: SecretsManagerClient;
  /** Per fetch, including the SDK's own retries. */
  timeoutMs?: number;
}

export interface SecretsStatus {
  provider: 'file' | 'aws';
  /** ms since epoch of the last successful fetch. */
  lastSuccessAt: number;
  consecutiveFailures: number;
  refreshFailures: number;
  rotations: number;
}

/** Why a fetch failed, in words that carry no secret (the SDK error's class name, or our own reason). */
function reasonOf(err: unknown): string {
  if (err instanceof SecretsError) return err.message;
  const name = err instanceof Error ? err.name : typeof err;
  const code = (err as { code?: unknown }).code;
  const safeName = /^[A-Za-z0-9_.]{1,64}$/.test(name) ? name : 'Error';
  // A network error's code (ECONNREFUSED, ENOTFOUND) says what to fix and quotes nothing.
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? `${safeName} ${code}` : safeName;
}

export class AwsSecretsProvider {
  readonly kind = 'aws' as const;
  readonly created = false;
  private value: ServiceSecrets;
  private fingerprint: string;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((s: ServiceSecrets) => void)[] = [];
  private readonly state: SecretsStatus;

  private constructor(
    private readonly o: AwsSecretsOptions,
    private readonly client: SecretsManagerClient,
    first: { value: ServiceSecrets; fingerprint: string },
  ) {
    this.value = first.value;
    this.fingerprint = first.fingerprint;
    this.state = { provider: 'aws', lastSuccessAt: Date.now(), consecutiveFailures: 0, refreshFailures: 0, rotations: 0 };
  }

  /** Fetches the secret once; throws a SecretsError that says what to fix when it cannot. */
  static async open(o: AwsSecretsOptions): Promise<AwsSecretsProvider> {
    const client =
      o.client ??
      new SecretsManagerClient({
        ...(o.region ? { region: o.region } : {}),
        ...(o.endpoint ? { endpoint: o.endpoint } : {}),
        maxAttempts: 3,
      });
    try {
      return new AwsSecretsProvider(o, client, await fetchSecret(client, o));
    } catch (err) {
      throw new SecretsError(
        `cannot read the service secrets from AWS Secrets Manager (secret ${o.secretId}${o.region ? ` in ${o.region}` : ''}): ${reasonOf(err)}. ` +
          'Check PALISADE_AWS_SECRET_ID, AWS_REGION, the credentials the instance role or AWS_* variables give, and that the role may call secretsmanager:GetSecretValue on it.',
      );
    }
  }

  current(): ServiceSecrets {
    return this.value;
  }

  status(): SecretsStatus {
    return { ...this.state };
  }

  onRotate(listener: (s: ServiceSecrets) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One refresh; true when it succeeded. Never throws. */
  async refresh(): Promise<boolean> {
    try {
      const next = await fetchSecret(this.client, this.o);
      this.state.lastSuccessAt = Date.now();
      this.state.consecutiveFailures = 0;
      if (next.fingerprint !== this.fingerprint) {
        this.value = next.value;
        this.fingerprint = next.fingerprint;
        this.state.rotations++;
        this.o.logger.info({ secretsProvider: 'aws', rotations: this.state.rotations }, 'service secrets rotated; new value in use');
        for (const l of this.listeners) l(next.value);
      }
      return true;
    } catch (err) {
      this.state.consecutiveFailures++;
      this.state.refreshFailures++;
      this.o.logger.warn(
        { secretsProvider: 'aws', reason: reasonOf(err), consecutiveFailures: this.state.consecutiveFailures },
        'service secrets refresh failed; keeping the last good value',
      );
      return false;
    }
  }
}

async function fetchSecret(client: SecretsManagerClient, o: AwsSecretsOptions): Promise<{ value: ServiceSecrets; fingerprint: string }> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: o.secretId }), { abortSignal: AbortSignal.timeout(o.timeoutMs ?? 15_000) });
  const text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
  if (text === undefined) throw new SecretsError('the secret has no value');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Never the parser's message: it quotes the secret.
    throw new SecretsError('the secret is not JSON');
  }
  const parsed = SecretsSchema.safeParse(json);
  if (!parsed.success) throw new SecretsError(`the secret's JSON is malformed at ${parsed.error.issues[0]?.path.join('.') || 'the top level'}`);
  if (!parsed.data.spoolKeys[parsed.data.spoolKeyId]) throw new SecretsError('the secret\'s spoolKeyId names no key in spoolKeys');
  return { value: parsed.data, fingerprint: createHash('sha256').update(text).digest('hex') };
}
