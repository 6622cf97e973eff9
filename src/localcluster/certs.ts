import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Certificates are made in-process with @peculiar/x509 over Node's WebCrypto rather than by running openssl:
// no external tool or its version-specific flags, no config files, and it is fast (ECDSA P-256 keys).

const crypto = webcrypto;
// x509 types WebCrypto with the DOM `Crypto`, which this Node-only project does not load.
x509.cryptoProvider.set(crypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface Pem {
  cert: string;
  key: string;
}

export interface ClusterCerts {
  ca: Pem;
  /** kube-apiserver's serving certificate: SANs 127.0.0.1, ::1, localhost and the kubernetes service names. */
  serving: Pem;
  /** Admin client certificate: CN=tidemark-admin, O=system:masters. */
  admin: Pem;
  /** Service-account token signing key pair (PEM private key, PEM public key). */
  serviceAccount: { key: string; publicKey: string };
}

async function keyPair(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privatePem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function publicPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('spki', key), 'PUBLIC KEY');
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  // Backdated a little against clock skew; valid long enough for any playground session.
  return { notBefore: new Date(now - 60 * 60 * 1000), notAfter: new Date(now + 365 * 24 * 60 * 60 * 1000) };
}

/**
 * A random positive serial number whose DER INTEGER encoding is minimal: the first byte is 0x40–0x7f, never 0x00
 * (a leading zero byte makes OpenSSL refuse the certificate with "illegal padding") and never ≥ 0x80 (negative).
 */
export function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

export async function generateClusterCerts(): Promise<ClusterCerts> {
  const caKeys = await keyPair();
  const caName = 'CN=tidemark-local-ca';
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    keys: caKeys,
    signingAlgorithm: SIGNING,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leaf = async (subject: string, usage: x509.ExtendedKeyUsage, names?: x509.JsonGeneralNames): Promise<Pem> => {
    const keys = await keyPair();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ];
    if (names) extensions.push(new x509.SubjectAlternativeNameExtension(names));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caCert.subject,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGNING,
      ...validity(),
      extensions,
    });
    return { cert: cert.toString('pem'), key: await privatePem(keys.privateKey) };
  };

  const serving = await leaf('CN=kube-apiserver', x509.ExtendedKeyUsage.serverAuth, [
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
    { type: 'dns', value: 'localhost' },
    { type: 'dns', value: 'kubernetes' },
    { type: 'dns', value: 'kubernetes.default' },
    { type: 'dns', value: 'kubernetes.default.svc' },
  ]);
  const admin = await leaf('CN=tidemark-admin, O=system:masters', x509.ExtendedKeyUsage.clientAuth);
  const saKeys = await keyPair();
  return {
    ca: { cert: caCert.toString('pem'), key: await privatePem(caKeys.privateKey) },
    serving,
    admin,
    serviceAccount: { key: await privatePem(saKeys.privateKey), publicKey: await publicPem(saKeys.publicKey) },
  };
}
