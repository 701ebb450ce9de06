/** The host-neutral XMPP core: everything a transport adapter (k6, Node) needs. */
export * from './bosh.ts';
export * from './bytes.ts';
export * from './clock.ts';
export * from './crypto.ts';
export * from './errors.ts';
export * from './framing.ts';
export * from './jid.ts';
export * from './muc.ts';
export * from './namespaces.ts';
export * from './sasl/base64.ts';
export * from './sasl/defaults.ts';
export * from './sasl/mechanism.ts';
export * from './sasl/plain.ts';
export * from './sasl/registry.ts';
export * from './sasl/scram.ts'; // with ScramCache, from ./sasl/scram-cache.ts
export * from './session.ts';
export * from './stanzas.ts';
export * from './xml/element.ts';
export * from './xml/parser.ts';
export * from './redact.ts';
