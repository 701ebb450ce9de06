import type { Redirect } from './redirect.ts';

/**
 * Every way a session can fail, as a typed reason string: `kind` or `kind:condition`.
 * The reason is the metric tag for session failures, so keep it short and stable.
 */
export type FailureKind =
  | 'auth-failed' // SASL <failure/>, condition from the server (not-authorized, …)
  | 'auth-no-mechanism' // no offered mechanism we can use
  | 'auth-server-signature' // SCRAM server signature did not verify (server does not know the password, or MITM)
  | 'auth-protocol' // malformed SASL exchange (bad challenge, wrong nonce, …)
  | 'bind-failed' // resource binding answered with an IQ error
  | 'iq-error' // an IQ answered type='error'
  | 'stream-error' // <stream:error/>, condition from the server (conflict, …)
  | 'see-other-uri' // server asked us to reconnect elsewhere (RFC 7395 §3.6.1)
  | 'stream-closed' // server sent <close/> before the session was ready
  | 'timeout' // phase in the condition: timeout:connect, timeout:auth, timeout:bind, …
  | 'transport-closed' // the transport closed before the stream was closed; the close code as condition (1006, …)
  | 'transport-error' // the transport failed to connect or errored
  | 'subprotocol-missing' // handshake completed without the `xmpp` subprotocol (RFC 7395 §3.1)
  | 'framing-violation' // a frame that is not one standalone XML document, or a wrong framing element
  | 'unexpected-stanza' // a well-formed frame that is not what the state machine allows
  | 'bosh-terminate' // BOSH body type='terminate' with a condition (item-not-found, …), or a legacy HTTP error
  | 'bosh-config' // BOSH settings that cannot work (wait at or above the HTTP timeout)
  | 'sm-resume-failed' // stream management resumption refused (<failed/>, e.g. item-not-found after the server's timeout)
  | 'client-error' // a bug of starling's own while handling a transport event: counted, never thrown into the VU
  | 'closed'; // API call on a closed session

export class XmppError extends Error {
  readonly kind: FailureKind;
  readonly condition: string | undefined;
  /** Human text from the server (<text/>), when any. */
  readonly serverText: string | undefined;
  /** Where the server sent the session (see-other-uri, see-other-host), when it did. */
  readonly redirect: Redirect | undefined;

  constructor(
    kind: FailureKind,
    condition: string | undefined,
    message: string,
    serverText?: string,
    redirect?: Redirect,
  ) {
    super(message);
    this.name = 'XmppError';
    this.kind = kind;
    this.condition = condition;
    this.serverText = serverText;
    this.redirect = redirect;
  }

  /** `kind` or `kind:condition`, e.g. `auth-failed:not-authorized`, `timeout:bind`. */
  get reason(): string {
    return this.condition ? `${this.kind}:${this.condition}` : this.kind;
  }
}
