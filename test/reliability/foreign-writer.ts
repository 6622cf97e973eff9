// Another tool changing the bucket policy while Tidemark works (Terraform, a console user, Config Connector): every
// `periodMs` it reads the policy, adds a binding of its own (now and then a conditional one, now and then removes
// one of its own again) and writes it back with the etag, redoing the read-modify-write on 412/409/429. It remembers
// which of its bindings must still be there, for the judge.

import type { Stack } from './stack.js';
import type { Binding, ForeignBinding } from './world.js';

export class ForeignWriter {
  /** Bindings written and not removed since: each must survive Tidemark. */
  readonly kept: ForeignBinding[] = [];
  writes = 0;
  conflicts = 0;
  private n = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly stack: Stack,
    private readonly periodMs = 200,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = Date.now();
      await this.once();
      const wait = this.periodMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  private next(): ForeignBinding {
    const i = ++this.n;
    const member = `user:foreign-${i}@example.com`;
    // Same role as Tidemark's, unconditional; another role; and a conditional one Tidemark must not take for its own.
    if (i % 3 === 0) return { role: 'roles/storage.objectUser', member };
    if (i % 3 === 1) return { role: 'roles/storage.objectViewer', member };
    return {
      role: 'roles/storage.objectUser',
      member,
      condition: {
        title: `foreign-${i}`,
        expression: `resource.name.startsWith("projects/_/buckets/${this.stack.bucket}/objects/foreign/${i}/")`,
      },
    };
  }

  private async once(): Promise<void> {
    const add = this.next();
    const remove = this.n % 5 === 0 && this.kept.length > 0 ? this.kept[0] : undefined;
    for (let attempt = 0; attempt < 20 && !this.stopped; attempt++) {
      const policy = await this.stack.admin<{ bindings?: Binding[]; etag: string }>(
        'GET',
        `/storage/v1/b/${this.stack.bucket}/iam?optionsRequestedPolicyVersion=3`,
      );
      let bindings = [...(policy.bindings ?? [])];
      if (remove) {
        bindings = bindings
          .map((b) =>
            b.role === remove.role && (b.condition?.expression ?? '') === (remove.condition?.expression ?? '')
              ? { ...b, members: b.members.filter((m) => m !== remove.member) }
              : b,
          )
          .filter((b) => b.members.length > 0);
      }
      const same = bindings.find(
        (b) => b.role === add.role && (b.condition?.expression ?? '') === (add.condition?.expression ?? ''),
      );
      if (same) bindings = bindings.map((b) => (b === same ? { ...b, members: [...b.members, add.member] } : b));
      else
        bindings.push({
          role: add.role,
          members: [add.member],
          ...(add.condition ? { condition: add.condition } : {}),
        });
      const res = await fetch(`${this.stack.emu.url}/storage/v1/b/${this.stack.bucket}/iam`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.stack.emu.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ version: 3, etag: policy.etag, bindings }),
      });
      await res.text();
      if (res.ok) {
        this.writes++;
        this.kept.push(add);
        if (remove) this.kept.splice(this.kept.indexOf(remove), 1);
        return;
      }
      if (res.status !== 412 && res.status !== 409 && res.status !== 429) {
        throw new Error(`foreign writer: setIamPolicy answered ${res.status}`);
      }
      this.conflicts++;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
}
