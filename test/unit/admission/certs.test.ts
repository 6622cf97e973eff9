import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueAll, judge, renew } from '../../../src/admission/certs.js';

const o = { dnsNames: ['tidemark-webhook.tidemark-system.svc'], ipAddresses: ['127.0.0.1'] };
const DAY = 86_400_000;

describe('webhook certificates', () => {
  it('a fresh set serves; at two thirds of its life the serving certificate is renewed under the same CA', async () => {
    const t0 = Date.now();
    const data = await issueAll({ ...o, servingValidityMs: 30 * DAY, caValidityMs: 3000 * DAY }, t0);
    expect(await judge(data, o, t0)).toMatchObject({ kind: 'Ok' });
    expect(await judge(data, o, t0 + 19 * DAY)).toMatchObject({ kind: 'Ok' });
    const due = await judge(data, o, t0 + 21 * DAY);
    expect(due.kind).toBe('RenewServing');
    const next = await renew(data, due, { ...o, servingValidityMs: 30 * DAY }, t0 + 21 * DAY);
    expect(next['ca.crt']).toBe(data['ca.crt']);
    expect(next['tls.crt']).not.toBe(data['tls.crt']);
    expect(new X509Certificate(next['tls.crt']).verify(new X509Certificate(next['ca.crt']).publicKey)).toBe(true);
    expect(await judge(next, o, t0 + 21 * DAY)).toMatchObject({ kind: 'Ok' });
  });

  it('a CA near its end is replaced, and the bundle keeps trusting the old one', async () => {
    const t0 = Date.now();
    const data = await issueAll({ ...o, caValidityMs: 30 * DAY }, t0);
    const v = await judge(data, o, t0 + 25 * DAY);
    expect(v.kind).toBe('RenewCa');
    const next = await renew(data, v, o, t0 + 25 * DAY);
    expect(next['ca.crt']).toContain(data['ca.crt'].trim());
    expect(next['ca.crt'].match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(await judge(next, o, t0 + 25 * DAY)).toMatchObject({ kind: 'Ok' });
  });

  it('missing or foreign material is unusable; a certificate lacking a needed name is renewed', async () => {
    expect(await judge(undefined, o)).toMatchObject({ kind: 'Unusable' });
    expect(await judge({ 'tls.crt': 'x', 'tls.key': 'y', 'ca.crt': 'z', 'ca.key': 'w' }, o)).toMatchObject({
      kind: 'Unusable',
    });
    const data = await issueAll(o);
    const other = await issueAll(o);
    expect(await judge({ ...data, 'ca.key': other['ca.key'] }, o)).toMatchObject({ kind: 'Unusable' });
    expect(await judge({ ...data, 'tls.key': other['tls.key'] }, o)).toMatchObject({ kind: 'Unusable' });
    expect(await judge({ ...data, 'ca.crt': other['ca.crt'], 'ca.key': other['ca.key'] }, o)).toMatchObject({
      kind: 'RenewServing',
    });
    expect(await judge(data, { ...o, dnsNames: ['elsewhere.svc'] })).toMatchObject({ kind: 'RenewServing' });
  });
});
