import { base64Decode, base64Encode, EncodingError } from '../bytes.ts';
import { XmppError } from '../errors.ts';

/** Payload → text of `<auth>`: base64, with `=` for an empty initial response (RFC 6120 §6.4.2). */
export function encodeInitialResponse(payload: Uint8Array): string {
  return payload.length === 0 ? '=' : base64Encode(payload);
}

/** Payload → text of `<response>`: base64, '' when empty. */
export function encodeResponse(payload: Uint8Array): string {
  return base64Encode(payload);
}

/** Text of `<challenge>`/`<success>` → payload. Empty, `=` and null mean no data; bad base64 is 'auth-protocol'. */
export function decodeSaslData(text: string | null | undefined): Uint8Array {
  const t = (text ?? '').trim();
  if (t === '' || t === '=') return new Uint8Array(0);
  try {
    return base64Decode(t);
  } catch (e) {
    if (e instanceof EncodingError)
      throw new XmppError('auth-protocol', undefined, `SASL data: ${e.message}`);
    throw e;
  }
}
