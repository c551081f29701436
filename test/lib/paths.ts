// Where things are, for tests: compiled tests live in dist/test/..., sources at the repository root.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (the folder holding package.json). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The compiled hactl CLI entry point. */
export const hactlBin = join(repoRoot, 'dist/cli/hactl.js');

/** The built-in resource agents. */
export const resourcesDir = join(repoRoot, 'resources');
