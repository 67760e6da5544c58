/**
 * An error a user can act on: `cause` names what is wrong, `fix` says what to do. The CLI prints both on
 * one line each and exits with `exitCode` (2: infrastructure unreachable, 3: configuration error).
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly fix: string,
    readonly exitCode: 1 | 2 | 3 = 1,
  ) {
    super(message);
    this.name = "UserError";
  }
}
