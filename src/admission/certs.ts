// The webhook's TLS material, as kept in a kubernetes.io/tls Secret: a CA (`ca.crt`, which may hold the previous CA
// too while a rotated one takes over, and `ca.key`) and a serving certificate signed by it (`tls.crt`, `tls.key`).
// Issuing and judging them is here; reading and writing the Secret is cert-keeper.ts.
//
// Renewal happens at two thirds of a certificate's lifetime (cert-manager's default), so there is always a third
// left to get it done. A new serving certificate is signed by the same CA, so the caBundle the API server trusts
// does not change. A CA near its end is replaced by a new one; the bundle then holds both, so serving certificates
// of either verify while replicas reload.
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { serial } from '../localcluster/certs.js';

x509.cryptoProvider.set(webcrypto as never);

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY = 24 * 60 * 60 * 1000;

export interface TlsData {
  'tls.crt': string;
  'tls.key': string;
  'ca.crt': string;
  'ca.key': string;
}

export interface CertOptions {
  /** DNS names and IP addresses the serving certificate must cover. */
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  /** Lifetime of a serving certificate (default 365 days) and of the CA (default 10 years). */
  servingValidityMs?: number;
  caValidityMs?: number;
}

export const DEFAULT_SERVING_VALIDITY_MS = 365 * DAY;
export const DEFAULT_CA_VALIDITY_MS = 10 * 365 * DAY;
/** Certificates are backdated a little against clock skew between replicas and the API server. */
const BACKDATE_MS = 5 * 60 * 1000;

/** The names a webhook Service is reached by. */
export function serviceDnsNames(namespace: string, name: string): string[] {
  return [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
}

/** The host of a webhook URL, as a DNS name or an IP address. */
export function urlNames(url: string): { dnsNames: string[]; ipAddresses: string[] } {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const ip = /^[0-9.]+$/.test(host) || host.includes(':');
  return ip ? { dnsNames: [], ipAddresses: [host] } : { dnsNames: [host], ipAddresses: [] };
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privatePem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

async function newCa(now: number, validityMs: number): Promise<{ cert: x509.X509Certificate; key: string }> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=tidemark-webhook-ca-${now}`,
    keys,
    signingAlgorithm: SIGNING,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: await privatePem(keys.privateKey) };
}

async function newServing(
  ca: { cert: x509.X509Certificate; key: string },
  o: CertOptions,
  now: number,
): Promise<{ cert: string; key: string }> {
  const keys = await keyPair();
  const validity = o.servingValidityMs ?? DEFAULT_SERVING_VALIDITY_MS;
  const notAfter = Math.min(now + validity, ca.cert.notAfter.getTime());
  const names: x509.JsonGeneralNames = [
    ...o.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...o.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${o.dnsNames[0] ?? o.ipAddresses[0] ?? 'tidemark-webhook'}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.key),
    signingAlgorithm: SIGNING,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
}

/** A fresh CA and serving certificate. */
export async function issueAll(o: CertOptions, now = Date.now()): Promise<TlsData> {
  const ca = await newCa(now, o.caValidityMs ?? DEFAULT_CA_VALIDITY_MS);
  const leaf = await newServing(ca, o, now);
  return { 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.cert.toString('pem'), 'ca.key': ca.key };
}

export type CertVerdict =
  | { kind: 'Ok'; renewAt: number }
  | { kind: 'RenewServing'; why: string }
  | { kind: 'RenewCa'; why: string }
  | { kind: 'Unusable'; why: string };

function dueAt(cert: x509.X509Certificate): number {
  const start = cert.notBefore.getTime() + BACKDATE_MS;
  return start + ((cert.notAfter.getTime() - start) * 2) / 3;
}

function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Whether the Secret's data can serve now, and when (or why) it must be renewed. */
export async function judge(
  data: Partial<TlsData> | undefined,
  o: CertOptions,
  now = Date.now(),
): Promise<CertVerdict> {
  if (!data) return { kind: 'Unusable', why: 'no certificate yet' };
  const missing = (['tls.crt', 'tls.key', 'ca.crt', 'ca.key'] as const).filter((k) => !data[k]);
  if (missing.length > 0) return { kind: 'Unusable', why: `missing ${missing.join(', ')}` };
  let leaf: x509.X509Certificate;
  let ca: x509.X509Certificate;
  try {
    leaf = new x509.X509Certificate(data['tls.crt'] as string);
    const first = pemBlocks(data['ca.crt'] as string)[0];
    if (!first) return { kind: 'Unusable', why: 'ca.crt holds no certificate' };
    ca = new x509.X509Certificate(first);
    createSecureContext({ cert: data['tls.crt'], key: data['tls.key'] });
    if (!createPublicKey(createPrivateKey(data['ca.key'] as string)).equals(createPublicKey(first))) {
      return { kind: 'Unusable', why: 'ca.key does not belong to the first certificate of ca.crt' };
    }
  } catch (err) {
    return { kind: 'Unusable', why: `unreadable: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (ca.notAfter.getTime() <= now) return { kind: 'Unusable', why: 'the CA has expired' };
  if (now >= dueAt(ca)) return { kind: 'RenewCa', why: `the CA expires at ${ca.notAfter.toISOString()}` };
  if (leaf.notAfter.getTime() <= now) return { kind: 'RenewServing', why: 'the serving certificate has expired' };
  const signedByCa =
    leaf.issuer === ca.subject && (await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true }));
  if (!signedByCa) return { kind: 'RenewServing', why: 'the serving certificate is not signed by the current CA' };
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const names = new Set((san?.names.toJSON() ?? []).map((n) => `${n.type}:${n.value}`));
  const uncovered = [...o.dnsNames.map((n) => `dns:${n}`), ...o.ipAddresses.map((n) => `ip:${n}`)].filter(
    (n) => !names.has(n),
  );
  if (uncovered.length > 0)
    return { kind: 'RenewServing', why: `the serving certificate lacks ${uncovered.join(', ')}` };
  const at = dueAt(leaf);
  if (now >= at)
    return { kind: 'RenewServing', why: `the serving certificate expires at ${leaf.notAfter.toISOString()}` };
  return { kind: 'Ok', renewAt: Math.min(at, dueAt(ca)) };
}

/** The renewed data for a verdict that asks for it (never for Ok). */
export async function renew(data: Partial<TlsData> | undefined, v: CertVerdict, o: CertOptions, now = Date.now()) {
  if (v.kind === 'Unusable' || !data) return issueAll(o, now);
  if (v.kind === 'RenewCa') {
    const fresh = await issueAll(o, now);
    // Keep trusting the old CA (while it lasts) for replicas still serving a certificate it signed.
    const old = pemBlocks(data['ca.crt'] as string)[0] as string;
    return { ...fresh, 'ca.crt': `${fresh['ca.crt'].trim()}\n${old}\n` };
  }
  const caPem = pemBlocks(data['ca.crt'] as string)[0] as string;
  const leaf = await newServing({ cert: new x509.X509Certificate(caPem), key: data['ca.key'] as string }, o, now);
  return { ...(data as TlsData), 'tls.crt': leaf.cert, 'tls.key': leaf.key };
}

/** The serial number of a PEM certificate (to tell certificates apart in logs and tests). */
export function serialOf(pem: string): string {
  return new x509.X509Certificate(pem).serialNumber;
}
