import { stringify } from 'yaml';

export interface KubeconfigParams {
  server: string;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** Context, cluster and user name. */
  name: string;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A self-contained kubeconfig (certificates embedded) for the admin user. */
export function renderKubeconfig(p: KubeconfigParams): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: p.name, cluster: { server: p.server, 'certificate-authority-data': b64(p.caPem) } }],
    users: [
      {
        name: p.name,
        user: { 'client-certificate-data': b64(p.clientCertPem), 'client-key-data': b64(p.clientKeyPem) },
      },
    ],
    contexts: [{ name: p.name, context: { cluster: p.name, user: p.name } }],
    'current-context': p.name,
    preferences: {},
  });
}
