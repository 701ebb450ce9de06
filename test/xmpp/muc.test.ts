/** XEP-0045 multi-user chat builders and readers (src/xmpp/muc.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  groupchatMessage,
  instantRoomConfig,
  joinError,
  joinPresence,
  leavePresence,
  MUC_STATUS,
  occupantJid,
  readOccupantPresence,
  roomPresence,
} from '../../src/xmpp/muc.ts';
import { serialize, x, type XmlElement } from '../../src/xmpp/xml/element.ts';
import { parseFrame } from '../../src/xmpp/xml/parser.ts';

const ROOM = 'r1@conference.localhost';
const TIMING = (): XmlElement => x('t', { xmlns: 'urn:example:timing', ts: '42' });

describe('muc builders', () => {
  test('occupantJid joins the room and nick with a slash', () => {
    assert.equal(occupantJid(ROOM, 'nick1'), 'r1@conference.localhost/nick1');
    assert.equal(occupantJid(ROOM, 'a/b'), 'r1@conference.localhost/a/b');
  });

  test('MUC_STATUS holds the self and created codes', () => {
    assert.deepEqual({ ...MUC_STATUS }, { self: '110', created: '201' });
  });

  test('joinPresence asks for no history, addressed to room/nick', () => {
    assert.equal(
      serialize(joinPresence(ROOM, 'nick1')),
      "<presence xmlns='jabber:client' to='r1@conference.localhost/nick1'>" +
        "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>",
    );
  });

  test('joinPresence appends extra elements after the muc x', () => {
    assert.equal(
      serialize(joinPresence(ROOM, 'nick1', [TIMING()])),
      "<presence xmlns='jabber:client' to='r1@conference.localhost/nick1'>" +
        "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x>" +
        "<t xmlns='urn:example:timing' ts='42'/></presence>",
    );
  });

  test('joinPresence round-trips through the parser with namespaces resolved', () => {
    const p = parseFrame(serialize(joinPresence(ROOM, 'nick1')));
    const mx = p.getChild('x', 'http://jabber.org/protocol/muc');
    assert.ok(mx);
    assert.equal(mx.getChild('history', 'http://jabber.org/protocol/muc')?.attr('maxstanzas'), '0');
  });

  test('roomPresence carries show, status and extras to room/nick', () => {
    assert.equal(
      serialize(roomPresence(ROOM, 'nick1', { status: 's', show: 'away' }, [TIMING()])),
      "<presence xmlns='jabber:client' to='r1@conference.localhost/nick1'>" +
        "<show>away</show><status>s</status><t xmlns='urn:example:timing' ts='42'/></presence>",
    );
  });

  test('roomPresence with no options is a bare available presence', () => {
    assert.equal(
      serialize(roomPresence(ROOM, 'nick1')),
      "<presence xmlns='jabber:client' to='r1@conference.localhost/nick1'/>",
    );
  });

  test('leavePresence is unavailable to room/nick', () => {
    assert.equal(
      serialize(leavePresence(ROOM, 'nick1')),
      "<presence xmlns='jabber:client' to='r1@conference.localhost/nick1' type='unavailable'/>",
    );
  });

  test('instantRoomConfig is a muc#owner query with an empty submit form', () => {
    assert.equal(
      serialize(instantRoomConfig()),
      "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>",
    );
  });

  test('groupchatMessage goes to the bare room with id, body, then extras', () => {
    assert.equal(
      serialize(groupchatMessage(ROOM, 'm1', 'hello <&>', [TIMING()])),
      "<message xmlns='jabber:client' to='r1@conference.localhost' type='groupchat' id='m1'>" +
        "<body>hello &lt;&amp;&gt;</body><t xmlns='urn:example:timing' ts='42'/></message>",
    );
  });

  test('groupchatMessage without extras has only the body', () => {
    assert.equal(
      serialize(groupchatMessage(ROOM, 'm2', 'hi')),
      "<message xmlns='jabber:client' to='r1@conference.localhost' type='groupchat' id='m2'><body>hi</body></message>",
    );
  });
});

describe('readOccupantPresence', () => {
  test('Prosody self-presence of a room creator', () => {
    const el = parseFrame(
      "<presence xml:lang='en' to='user1@localhost/r1' xmlns='jabber:client' from='r1@conference.localhost/nick1'>" +
        "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='abc'/>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/>" +
        "<item role='moderator' affiliation='owner' jid='user1@localhost/r1'/><status code='110'/></x></presence>",
    );
    assert.deepEqual(readOccupantPresence(el), {
      room: 'r1@conference.localhost',
      nick: 'nick1',
      unavailable: false,
      self: true,
      created: true,
      statuses: ['201', '110'],
      role: 'moderator',
      affiliation: 'owner',
    });
  });

  test('ejabberd presence of another occupant', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' xml:lang='en' to='user2@localhost/x' from='r1@conference.localhost/nick1'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='moderator' affiliation='owner'/></x></presence>",
    );
    assert.deepEqual(readOccupantPresence(el), {
      room: 'r1@conference.localhost',
      nick: 'nick1',
      unavailable: false,
      self: false,
      created: false,
      statuses: [],
      role: 'moderator',
      affiliation: 'owner',
    });
  });

  test('unavailable presence of another occupant', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' to='user2@localhost/x' from='r1@conference.localhost/nick3' type='unavailable'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='none' affiliation='none'/></x></presence>",
    );
    assert.deepEqual(readOccupantPresence(el), {
      room: 'r1@conference.localhost',
      nick: 'nick3',
      unavailable: true,
      self: false,
      created: false,
      statuses: [],
      role: 'none',
      affiliation: 'none',
    });
  });

  test('own unavailable presence (status 110) is self', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' to='user1@localhost/r1' from='r1@conference.localhost/nick1' type='unavailable'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='none' affiliation='owner'/>" +
        "<status code='110'/></x></presence>",
    );
    assert.deepEqual(readOccupantPresence(el), {
      room: 'r1@conference.localhost',
      nick: 'nick1',
      unavailable: true,
      self: true,
      created: false,
      statuses: ['110'],
      role: 'none',
      affiliation: 'owner',
    });
  });

  test('a nick containing a slash keeps everything after the first slash', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/a/b'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='participant' affiliation='none'/></x></presence>",
    );
    const o = readOccupantPresence(el);
    assert.equal(o?.room, 'r1@conference.localhost');
    assert.equal(o?.nick, 'a/b');
  });

  test("ejabberd's caps presence from the bare room JID is undefined", () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' to='user1@localhost/x' from='r1@conference.localhost' id='1'>" +
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('a bare room JID with a muc#user x is still undefined', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><status code='104'/></x></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('a presence without a muc#user x is undefined', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='user3@localhost/phone'><show>away</show></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('an x in the plain muc namespace is not a muc#user payload', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/nick1'>" +
        "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('a presence without from is undefined', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'>" +
        "<status code='110'/></x></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('a presence of type error is undefined', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/nick1' type='error'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='none' affiliation='none'/></x>" +
        "<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    assert.equal(readOccupantPresence(el), undefined);
  });

  test('children of the muc#user x in another namespace are ignored', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/nick2'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><status code='110' xmlns='urn:other'/>" +
        "<item role='owner-ish' affiliation='x' xmlns='urn:other'/>" +
        "<item role='participant' affiliation='member'/></x></presence>",
    );
    assert.deepEqual(readOccupantPresence(el), {
      room: 'r1@conference.localhost',
      nick: 'nick2',
      unavailable: false,
      self: false,
      created: false,
      statuses: [],
      role: 'participant',
      affiliation: 'member',
    });
  });

  test('our own built join presence is not read as an occupant presence', () => {
    assert.equal(readOccupantPresence(joinPresence(ROOM, 'nick1')), undefined);
  });
});

describe('joinError', () => {
  test('a nickname conflict on join', () => {
    const el = parseFrame(
      "<presence from='r1@conference.localhost/nick1' type='error' xmlns='jabber:client'>" +
        "<x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'>" +
        "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>",
    );
    assert.deepEqual(joinError(el), { type: 'cancel', condition: 'conflict', text: undefined });
  });

  test('an error with a text', () => {
    const el = parseFrame(
      "<presence from='r1@conference.localhost/nick1' type='error' xmlns='jabber:client'>" +
        "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" +
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>password required</text></error></presence>",
    );
    assert.deepEqual(joinError(el), {
      type: 'auth',
      condition: 'not-authorized',
      text: 'password required',
    });
  });

  test('undefined for a non-error presence', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/nick1'>" +
        "<x xmlns='http://jabber.org/protocol/muc#user'><item role='moderator' affiliation='owner'/>" +
        "<status code='110'/></x></presence>",
    );
    assert.equal(joinError(el), undefined);
  });

  test('undefined for an unavailable presence', () => {
    const el = parseFrame(
      "<presence xmlns='jabber:client' from='r1@conference.localhost/nick1' type='unavailable'/>",
    );
    assert.equal(joinError(el), undefined);
  });
});
