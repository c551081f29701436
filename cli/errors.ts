// CLI outcomes (SPEC §7): a non-zero exit with one line that says what is wrong.
export const EXIT = { OK: 0, OTHER: 1, USAGE: 2, NOT_FOUND: 3, REFUSED: 4, TIMEOUT: 5 } as const;

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const usageError = (m: string) => new CliError(m, EXIT.USAGE);
export const notFound = (m: string) => new CliError(m, EXIT.NOT_FOUND);
export const refused = (m: string) => new CliError(m, EXIT.REFUSED);
export const timedOut = (m: string) => new CliError(m, EXIT.TIMEOUT);
