// A small TCP proxy on 127.0.0.1 that can delay what passes through it, to make a server look slow to its
// clients without touching the server: e.g. kube-apiserver behind a congested network or an overloaded
// load balancer. TLS passes through untouched (the server's certificate names 127.0.0.1, as the proxy's address).
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port clients connect to. */
  port: number;
  /**
   * Milliseconds every chunk, and the end or reset of a connection, is held in each direction (0 = none); changes
   * apply to what is received afterwards.
   */
  delayMs: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Closes every open connection (clients see a reset, as when a load balancer drops them). */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(o: { targetPort: number; port?: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let accepted = 0;
  const proxy: TcpProxy = {
    port: 0,
    delayMs: 0,
    connections: () => accepted,
    cutAll() {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.cutAll();
        server.close(() => resolve());
      }),
  };
  // Chunks keep their order: each is written when its own delay has passed, and never before the one ahead of it.
  const pipe = (from: Socket, to: Socket) => {
    let last = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const delay = proxy.delayMs;
      if (delay <= 0) {
        last = last.then(() => void to.write(chunk));
        return;
      }
      const due = new Promise<void>((r) => setTimeout(r, delay));
      last = Promise.all([last, due]).then(() => {
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.on('end', () => void last.then(() => to.end()));
  };
  const server = createServer((client) => {
    accepted++;
    const upstream = connect({ host: '127.0.0.1', port: o.targetPort });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      // A reset on one side ends the other: the client then reconnects, as it would through a real proxy. Like the
      // data, the news of a reset is held for the delay in force (a slow link delivers the reset late too).
      s.on('error', () => {
        const cut = () => {
          client.destroy();
          upstream.destroy();
        };
        if (proxy.delayMs > 0) setTimeout(cut, proxy.delayMs);
        else cut();
      });
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('tcp proxy: no address');
  proxy.port = address.port;
  return proxy;
}
