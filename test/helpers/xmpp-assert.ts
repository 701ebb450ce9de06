/** Small waits and assertions the protocol tests share. */
import assert from 'node:assert/strict';
import { XmppError } from '../../src/xmpp/errors.ts';
import type { XmlElement } from '../../src/xmpp/xml/element.ts';

/** The XmppError a promise rejects with; fails the test if it resolves or rejects with anything else. */
export async function failureOf(p: Promise<unknown>): Promise<XmppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof XmppError, `expected an XmppError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a failure');
}

/** The next stanza a handler registered through `subscribe` sees, or a rejection after `ms`. */
export function nextStanza(
  subscribe: (fn: (el: XmlElement) => void) => void,
  ms = 5000,
): Promise<XmlElement> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no stanza within ${ms} ms`)), ms);
    subscribe((el) => {
      clearTimeout(t);
      resolve(el);
    });
  });
}
