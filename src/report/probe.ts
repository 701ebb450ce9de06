import type { ProbeResult } from '../node/probe.ts';

const pad = (s: string | number, n: number): string => String(s).padStart(n);

/** Terminal summary of a probe run. */
export function formatProbe(r: ProbeResult, withTranscript: boolean): string {
  const lines: string[] = [];
  if (withTranscript && r.transcript.length > 0) {
    lines.push('frames of session 1 (>> sent, << received; SASL payloads redacted):');
    for (const f of r.transcript) lines.push(`  ${f}`);
    lines.push('');
  }
  lines.push(
    `target ${r.url} (${r.transport})`,
    `sessions ${r.sessions}   logged in ${r.loggedIn}   messages ${r.messagesDelivered}/${r.messagesSent} delivered   ` +
      `clean closes ${r.cleanCloses}/${r.loggedIn}   in ${(r.wallMs / 1000).toFixed(1)} s`,
    `SASL: offered [${r.offeredMechanisms.join(', ')}], used ${r.mechanism ?? '-'}`,
    '',
    `${'phase (ms)'.padEnd(12)}${pad('count', 7)}${pad('p50', 7)}${pad('p90', 7)}${pad('p99', 7)}${pad('max', 7)}`,
  );
  for (const [phase, s] of Object.entries(r.phases)) {
    lines.push(
      `${phase.padEnd(12)}${pad(s.count, 7)}${pad(s.p50, 7)}${pad(s.p90, 7)}${pad(s.p99, 7)}${pad(s.max, 7)}`,
    );
  }
  const reasons = Object.entries(r.failures);
  if (reasons.length > 0) {
    lines.push('', 'failures:');
    for (const [reason, n] of reasons) lines.push(`  ${reason} ×${n}: ${r.failureExamples[reason]}`);
  }
  return lines.join('\n');
}

/** True when every session logged in, every message arrived and every session closed cleanly. */
export function probePassed(r: ProbeResult): boolean {
  return (
    r.loggedIn === r.sessions &&
    r.messagesDelivered === r.messagesSent &&
    r.cleanCloses === r.loggedIn &&
    Object.keys(r.failures).length === 0
  );
}
