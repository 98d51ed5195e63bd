/**
 * A network namespace with a veth link to the host, for tests whose endpoints
 * must not be loopback (the API server rejects 127.0.0.0/8 in EndpointSlices).
 * Addresses are 10.213.N.1 (host side) and 10.213.N.2 (namespace side): they
 * exist only while the namespace does, so test traffic never leaves this host.
 * Needs root (ip netns).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';

export class TestNetns {
  readonly hostAddress: string;
  readonly address: string;
  private readonly servers: ChildProcess[] = [];

  private constructor(
    readonly name: string,
    subnet: number,
  ) {
    this.hostAddress = `10.213.${subnet}.1`;
    this.address = `10.213.${subnet}.2`;
  }

  static canCreate(): boolean {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
      return process.getuid?.() === 0;
    } catch {
      return false;
    }
  }

  static create(): TestNetns {
    const subnet = randomInt(1, 250);
    const netns = new TestNetns(`meshcp-t${process.pid % 100000}-${subnet}`, subnet);
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    const hostIf = `mh${process.pid % 10000}x${subnet}`;
    const nsIf = `mn${process.pid % 10000}x${subnet}`;
    ip('netns', 'add', netns.name);
    try {
      ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
      ip('link', 'set', nsIf, 'netns', netns.name);
      ip('addr', 'add', `${netns.hostAddress}/30`, 'dev', hostIf);
      ip('link', 'set', hostIf, 'up');
      ip('netns', 'exec', netns.name, 'ip', 'addr', 'add', `${netns.address}/30`, 'dev', nsIf);
      ip('netns', 'exec', netns.name, 'ip', 'link', 'set', nsIf, 'up');
      ip('netns', 'exec', netns.name, 'ip', 'link', 'set', 'lo', 'up');
    } catch (error) {
      netns.destroy();
      throw error;
    }
    return netns;
  }

  /** An HTTP server inside the namespace on address:port that answers with `name`; resolves once it listens. */
  startHttpServer(name: string, port: number): Promise<void> {
    const script = `require('http').createServer((q,s)=>{q.resume();s.writeHead(200,{'x-upstream':${JSON.stringify(name)}});s.end(${JSON.stringify(`${name}\n`)})}).listen(${port},${JSON.stringify(this.address)},()=>console.log('listening'))`;
    const child = spawn('ip', ['netns', 'exec', this.name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`server in ${this.name} did not listen within 10 s: ${output}`)), 10_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server in ${this.name} exited (${code}): ${output}`));
      });
    });
  }

  destroy(): void {
    for (const server of this.servers) server.kill('SIGKILL');
    // Deleting the namespace deletes the veth pair with it.
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}
