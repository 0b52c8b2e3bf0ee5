/**
 * An error caused by the user's input (an unknown name, an out-of-range value, a missing or corrupt file).
 * The CLI prints its message as one line and exits with code 2; anything else is a bug and exits 1.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** `unknown model "x"; valid: a, b, c` */
export function unknownChoice(what: string, value: string, valid: readonly string[]): UserError {
  return new UserError(`unknown ${what} "${value}"; valid: ${valid.join(', ')}`);
}
