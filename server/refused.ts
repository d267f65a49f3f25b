// A request the server refuses with an error code and a message for the agent (the session sends it as ERROR).
import type { ErrorCode } from '../protocol/messages.js';

export class RefusedRequest extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RefusedRequest';
  }
}
