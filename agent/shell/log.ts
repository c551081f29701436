// One root logger: JSON lines with fixed messages and structured fields; secrets redacted by path.
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = ['password', '*.password', 'params.password', '*.params.password', 'etcd.auth.password', 'auth.password', 'env.*'];

export function makeLogger(level: string, base: Record<string, unknown>): Logger {
  return pino({ level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };
