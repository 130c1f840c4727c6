/**
 * Whether this edge takes a request's events right now, decided before the
 * body is read: not while shutting down (the client retries against another
 * edge) and not while the spool is full (nothing could be made durable).
 */
import { AppError, ErrorCode } from '../errors/index.ts';
import type { Spool } from '../spool/spool.ts';

export type RefusalReason = 'spool_full' | 'draining';

export class Admission {
  private refusingNew = false;

  constructor(
    private readonly spool: Pick<Spool, 'isFull'>,
    private readonly onRefused: (reason: RefusalReason) => void,
  ) {}

  /** From here on every request is refused with a 503; those already admitted finish. */
  refuseNew(): void {
    this.refusingNew = true;
  }

  get draining(): boolean {
    return this.refusingNew;
  }

  /** undefined: accept; otherwise the error to answer with. */
  readonly accepting = (): AppError | undefined => {
    if (this.refusingNew) {
      this.onRefused('draining');
      return new AppError(ErrorCode.UNAVAILABLE, 'shutting down; retry against another edge', { retryAfter: 1 });
    }
    if (this.spool.isFull()) {
      this.onRefused('spool_full');
      return new AppError(ErrorCode.SPOOL_FULL, 'the local spool is full; retry shortly', { retryAfter: 5 });
    }
    return undefined;
  };
}
