import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateClusterCerts, serial } from '../../src/localcluster/certs.js';

describe('local cluster certificates', () => {
  it('serial numbers are positive with a minimal DER encoding (no leading zero byte)', () => {
    for (let i = 0; i < 2000; i++) {
      const first = Number.parseInt(serial().slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(0x01);
      expect(first).toBeLessThan(0x80);
    }
  });

  it('every generated certificate parses with OpenSSL', async () => {
    for (let i = 0; i < 5; i++) {
      const certs = (await generateClusterCerts()) as unknown as Record<string, unknown>;
      const pems = JSON.stringify(certs).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
      expect(pems.length).toBeGreaterThan(0);
      for (const pem of pems) expect(() => new X509Certificate(pem.replaceAll('\\n', '\n'))).not.toThrow();
    }
  });
});
