// The version of this hactl, from the package.json installed beside dist/ (systemd/install.sh
// copies it; a checkout has it). Read once at start-up.
import { createRequire } from 'node:module';

export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
