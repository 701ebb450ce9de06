import { utf8Encode } from '../bytes.ts';
import { XmppError } from '../errors.ts';
import { encodeInitialResponse } from './base64.ts';
import type { SaslCredentials, SaslMechanism } from './mechanism.ts';

/**
 * RFC 4616 PLAIN: one initial response `authzid NUL authcid NUL passwd`, UTF-8.
 * Sent unprepared: RFC 4616 §2 leaves SASLprep to the server.
 */
export class PlainMechanism implements SaslMechanism {
  readonly name = 'PLAIN';
  private readonly credentials: SaslCredentials;

  constructor(credentials: SaslCredentials) {
    this.credentials = credentials;
  }

  async initial(): Promise<string> {
    const { authzid = '', username, password } = this.credentials;
    return encodeInitialResponse(utf8Encode(`${authzid}\0${username}\0${password}`));
  }

  async challenge(_data: string): Promise<string> {
    throw new XmppError(
      'auth-protocol',
      undefined,
      'PLAIN: unexpected challenge (PLAIN is a single message)',
    );
  }

  async success(_additionalData: string | null): Promise<void> {
    // PLAIN has no server-final data to verify.
  }
}
