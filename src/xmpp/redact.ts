/**
 * Removes credentials from a frame before it is logged: the payload of SASL `<auth>` and `<response>`
 * (PLAIN carries the password in base64; SCRAM's proof is derived from it). Works on the raw text, so it
 * also redacts frames that do not parse.
 */
const SASL_PAYLOAD = /(<(auth|response)\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>)([^<]+)(<\/\2>)/g;

export function redactFrame(frame: string): string {
  return frame.replace(SASL_PAYLOAD, (_m, open: string, _n: string, _payload: string, close: string) => {
    return `${open}[redacted]${close}`;
  });
}
