// One root logger: JSON lines with fixed messages and structured fields; secrets redacted by path.
import { pino, type Logger } from 'pino';

// Everywhere a secret could sit in a log object: etcd credentials (auth, conn.auth, a host config's
// etcd.auth), fence device and resource parameters (params.*: a site may still pass a secret to its
// own agent), and agent environments (env.*: OCF_RESKEY_* carry the parameters).
export const REDACT_PATHS = [
  'password', 'passwd', 'secret',
  '*.password', '*.passwd', '*.secret',
  'params.*', '*.params.*', '*.*.params.*', 'fencing.devices.*.params.*', 'config.fencing.devices.*.params.*',
  'auth.password', 'etcd.auth.password', '*.etcd.auth.password', 'conn.auth.password', 'credentials.privateKey', '*.privateKey', 'privateKey',
  'env.*', '*.env.*',
];

export function makeLogger(level: string, base: Record<string, unknown>): Logger {
  return pino({ level, base, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };
