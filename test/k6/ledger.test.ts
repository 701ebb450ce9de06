import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryLedger, type TimedKind } from '../../src/k6/ledger.ts';

/** A ledger on a hand-moved clock that records every settlement. */
function ledger(windowMs = 1000) {
  const clock = { t: 0 };
  const settled: [TimedKind, 'lost' | 'delivered', string | undefined][] = [];
  const l = new DeliveryLedger({
    windowMs,
    now: () => clock.t,
    settled: (kind, lost, tags) => settled.push([kind, lost ? 'lost' : 'delivered', tags?.scenario]),
  });
  return { l, clock, settled };
}

describe('DeliveryLedger', () => {
  test('a stanza received by its addressee within the window is delivered, once', () => {
    const { l, clock, settled } = ledger();
    l.expect('1.a', 'message', 'bob@localhost/r1', { scenario: 'chat' });
    clock.t = 999;
    assert.equal(l.received('1.a', 'bob@localhost/r1'), true);
    assert.equal(l.received('1.a', 'bob@localhost/r1'), false, 'a duplicate settles nothing');
    assert.deepEqual(settled, [['message', 'delivered', 'chat']]);
    assert.equal(l.size, 0);
  });

  test('a delivered key is remembered, so another arrival of it is a redelivery; the memory is bounded', () => {
    const { l, clock } = ledger();
    l.expect('d', 'message', 'bob@localhost/r1');
    l.expect('late', 'message', 'bob@localhost/r1');
    assert.equal(l.wasDelivered('d'), false, 'not before it arrived');
    assert.equal(l.received('d', 'bob@localhost/r1'), true);
    assert.equal(l.wasDelivered('d'), true);
    clock.t = 2000;
    assert.equal(l.received('late', 'bob@localhost/r1'), false);
    assert.equal(l.wasDelivered('late'), false, 'a late arrival was counted lost, not delivered');
    assert.equal(l.wasDelivered('never'), false);
    // 65,536 keys are kept: the 65,537th delivery forgets the oldest.
    for (let i = 0; i < 65_536; i++) {
      l.expect(`k${i}`, 'message', 'bob@localhost/r1');
      l.received(`k${i}`, 'bob@localhost/r1');
    }
    assert.equal(l.wasDelivered('d'), false);
    assert.equal(l.wasDelivered('k0'), true);
    assert.equal(l.wasDelivered('k65535'), true);
    // Once full, each delivery forgets the oldest in turn.
    l.expect('next', 'message', 'bob@localhost/r1');
    l.received('next', 'bob@localhost/r1');
    assert.equal(l.wasDelivered('k0'), false);
    assert.equal(l.wasDelivered('k1'), true);
    assert.equal(l.wasDelivered('next'), true);
  });

  test('keys delivered before anyone asked are remembered all the same, past the ring’s wrap', () => {
    const { l } = ledger();
    // Nothing asks wasDelivered until the ring has wrapped once: the answers are those of a ledger asked all along.
    for (let i = 0; i <= 65_536; i++) {
      l.expect(`k${i}`, 'message', 'bob@localhost/r1');
      l.received(`k${i}`, 'bob@localhost/r1');
    }
    assert.deepEqual(
      ['k0', 'k1', 'k65536', 'never'].map((k) => l.wasDelivered(k)),
      [false, true, true, false],
    );
    l.expect('after', 'message', 'bob@localhost/r1');
    l.received('after', 'bob@localhost/r1');
    assert.deepEqual(
      ['k1', 'k2', 'after'].map((k) => l.wasDelivered(k)),
      [false, true, true],
    );
  });

  test('several stanzas on their way to one addressee: each settles once, in any order', () => {
    const { l, settled } = ledger(60_000);
    for (const k of ['a', 'b', 'c']) l.expect(k, 'message', 'bob@localhost/r1');
    assert.equal(l.pendingTo('bob@localhost/r1'), 3);
    assert.equal(l.received('b', 'bob@localhost/r1'), true);
    assert.equal(l.received('b', 'bob@localhost/r1'), false, 'once');
    assert.equal(l.pendingTo('bob@localhost/r1'), 2);
    assert.equal(l.received('a', 'bob@localhost/r1'), true);
    assert.equal(l.pendingTo('bob@localhost/r1'), 1);
    l.expect('d', 'presence', 'bob@localhost/r1');
    assert.equal(l.pendingTo('bob@localhost/r1'), 2);
    l.recipientEnded('bob@localhost/r1');
    assert.equal(l.pendingTo('bob@localhost/r1'), 0);
    assert.equal(l.size, 0);
    assert.deepEqual(settled, [
      ['message', 'delivered', undefined],
      ['message', 'delivered', undefined],
      ['message', 'lost', undefined],
      ['presence', 'lost', undefined],
    ]);
  });

  test('received after the window, it is lost (its latency is the caller’s to record)', () => {
    const { l, clock, settled } = ledger();
    l.expect('k', 'presence', 'bob@localhost/r1');
    clock.t = 1001;
    assert.equal(l.received('k', 'bob@localhost/r1'), false);
    assert.deepEqual(settled, [['presence', 'lost', undefined]]);
  });

  test('the sweep settles as lost exactly what is older than the window, oldest first, and keeps the rest', () => {
    const { l, clock, settled } = ledger();
    l.expect('a', 'message', 'x@localhost/1');
    clock.t = 400;
    l.expect('b', 'message', 'x@localhost/1');
    clock.t = 1001;
    l.sweep();
    assert.deepEqual(settled, [['message', 'lost', undefined]]);
    assert.equal(l.size, 1);
    assert.equal(l.received('b', 'x@localhost/1'), true);
  });

  test('a stanza that reaches another session settles nothing; a bare JID is received by any of its resources', () => {
    const { l, settled } = ledger();
    l.expect('full', 'message', 'bob@localhost/r1');
    l.expect('bare', 'message', 'bob@localhost');
    assert.equal(l.received('full', 'bob@localhost/r2'), false);
    assert.equal(l.received('full', 'carol@localhost/r1'), false);
    assert.equal(l.received('bare', 'bob@localhost/r2'), true);
    assert.equal(l.received('unknown', 'bob@localhost/r1'), false);
    assert.deepEqual(settled, [['message', 'delivered', undefined]]);
    assert.equal(l.size, 1);
  });

  test('when the addressee’s session ends, what was on its way to it is lost at once', () => {
    const { l, settled } = ledger(60_000);
    l.expect('1', 'message', 'bob@localhost/r1');
    l.expect('2', 'presence', 'carol@localhost/r1');
    l.expect('3', 'message', 'bob@localhost/r1');
    l.recipientEnded('bob@localhost/r1');
    assert.deepEqual(settled, [
      ['message', 'lost', undefined],
      ['message', 'lost', undefined],
    ]);
    assert.equal(l.size, 1);
  });

  test('a stanza to the bare JID is lost when the session of that account ends, not when another’s does', () => {
    const { l, settled } = ledger(60_000);
    l.expect('1', 'message', 'bob@localhost');
    l.expect('2', 'message', 'bobby@localhost');
    assert.equal(l.pendingTo('bob@localhost/r1'), 1);
    assert.equal(l.pendingTo('bobby@localhost/r1'), 1);
    assert.equal(l.pendingTo('carol@localhost/r1'), 0);
    l.recipientEnded('bob@localhost/r1');
    assert.deepEqual(settled, [['message', 'lost', undefined]]);
    assert.equal(l.size, 1);
  });

  test('a withdrawn stanza (never sent) is neither delivered nor lost', () => {
    const { l, settled } = ledger();
    l.expect('1', 'message', 'bob@localhost/r1');
    l.withdraw('1');
    l.recipientEnded('bob@localhost/r1');
    assert.deepEqual(settled, []);
  });

  test('what is pending to a session follows every way an expectation ends (received, withdrawn, swept, ended)', () => {
    const { l, clock, settled } = ledger();
    l.expect('m1', 'message', 'bob@localhost', { scenario: 'a' }); // bare: any of bob's resources
    l.expect('m2', 'message', 'bob@localhost/r1', { scenario: 'b' });
    l.expect('m3', 'message', 'bob@localhost/r2', { scenario: 'c' });
    l.expect('m4', 'message', 'carol@localhost', { scenario: 'd' });
    l.expect('m5', 'message', 'bob@localhost/r1/x', { scenario: 'e' }); // a resource with a slash in it
    assert.equal(l.pendingTo('bob@localhost/r1'), 2, 'its own full JID and its bare JID');
    assert.equal(l.pendingTo('bob@localhost/r2'), 2);
    assert.equal(l.pendingTo('bob@localhost/r1/x'), 2, 'm5 and the bare m1, not m2');
    assert.equal(l.pendingTo('bob@localhost'), 1, 'a bare receiver takes only what was sent to the bare JID');
    assert.equal(l.pendingTo('carol@localhost/r'), 1);
    assert.equal(l.pendingTo('dave@localhost/r'), 0);

    assert.equal(
      l.received('m2', 'bob@localhost/r2'),
      false,
      'another resource does not take a full-JID stanza',
    );
    assert.equal(l.received('m1', 'bob@localhost/r2'), true);
    assert.equal(l.pendingTo('bob@localhost/r1'), 1);
    l.withdraw('m2');
    l.withdraw('m2'); // twice: nothing more to withdraw
    assert.equal(l.pendingTo('bob@localhost/r1'), 0);
    l.recipientEnded('bob@localhost/r2');
    assert.equal(l.pendingTo('bob@localhost/r2'), 0);
    assert.equal(l.pendingTo('bob@localhost/r1/x'), 1, 'another session of the account keeps its own');
    clock.t = 1001;
    l.sweep();
    assert.equal(l.pendingTo('carol@localhost/r'), 0);
    assert.equal(l.pendingTo('bob@localhost/r1/x'), 0);
    assert.equal(l.size, 0);
    assert.deepEqual(settled, [
      ['message', 'delivered', 'a'],
      ['message', 'lost', 'c'],
      ['message', 'lost', 'd'],
      ['message', 'lost', 'e'],
    ]);
    // Nothing is left behind to be settled twice.
    l.recipientEnded('carol@localhost/r');
    l.recipientEnded('bob@localhost/r1/x');
    assert.equal(settled.length, 4);
  });
});
