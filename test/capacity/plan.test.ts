/** What each capacity dimension asks its generators for: shares that sum to the load, and the sessions step's pacing. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_SPEEDUP, PLANS, share } from '../../src/capacity/plan.ts';

const settings = {
  stepSeconds: 20,
  warmupSeconds: 4,
  loginRate: 150,
  population: 100,
  pingSeconds: 5,
  thinkSeconds: 1,
};

describe('capacity plans', () => {
  test('share splits a total into whole parts that sum to it, the first ones taking the remainder', () => {
    assert.deepEqual(
      [0, 1, 2].map((g) => share(10, g, 3)),
      [4, 3, 3],
    );
    assert.deepEqual(
      [0, 1].map((g) => share(7, g, 2)),
      [4, 3],
    );
  });

  test('sessions: each generator logs in its share at its share of the login rate and closes four times as fast', () => {
    const envs = [0, 1].map((g) => PLANS.sessions.env(1001, g, 2, settings));
    assert.deepEqual(
      envs.map((e) => [
        e.SESSIONS_PER_VU,
        e.LOGIN_RATE,
        e.CLOSE_RATE,
        e.ACCOUNT_OFFSET,
        e.PING_INTERVAL,
        e.DURATION,
      ]),
      [
        ['501', '75', '300', '0', '5s', '20s'],
        ['500', '75', '300', '501', '5s', '20s'],
      ],
    );
    assert.equal(CLOSE_SPEEDUP, 4);
    // The window starts after the login ramp and the warm-up.
    assert.deepEqual(PLANS.sessions.window(1500, settings), { from: 14, to: 30 });
  });
});
