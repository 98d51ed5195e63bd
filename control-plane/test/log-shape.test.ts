/**
 * The shape of meshcp's log lines (pino): one JSON object per line with level, time,
 * component and msg, the stable keys proxy/type/version/object where an event has
 * them, and secrets redacted — by key, and for PEM private keys by value.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { logger, setLogLevel } from '../src/log.js';
import { captureStderr } from './support/capture-stderr.js';

const MESHCP = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'meshcp.js');

function capture(run: () => void): Record<string, unknown>[] {
  const lines = captureStderr(run);
  for (const line of lines) expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line per event').toBe(true);
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

afterEach(() => setLogLevel('info'));

describe('log lines', () => {
  it('carry level, ISO time, component, msg and the event fields', () => {
    const [line] = capture(() => logger('xds').warn('proxy rejected a response (NACK)', { proxy: 'web-1', type: 'CDS', version: '7', error: 'bad' }));
    expect(line).toEqual({
      level: 'warn',
      time: expect.any(String),
      component: 'xds',
      proxy: 'web-1',
      type: 'CDS',
      version: '7',
      error: 'bad',
      msg: 'proxy rejected a response (NACK)',
    });
    expect(new Date(line?.time as string).toISOString()).toBe(line?.time);
  });

  it('never include a secret: keys that could hold one are redacted at the top and one level down; PEM private keys under any key', () => {
    const secret = 'sk-live-DO-NOT-LOG';
    const pem = `-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG${secret}\n-----END PRIVATE KEY-----\n`;
    const lines = capture(() =>
      logger('auth').error('something failed', {
        token: secret,
        privateKey: secret,
        headers: { authorization: `Bearer ${secret}`, cookie: secret, 'proxy-authorization': secret, accept: 'text/plain' },
        request: { password: secret },
        certificate: pem,
        detail: { keyPem: pem, note: pem },
      }),
    );
    const text = JSON.stringify(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('PRIVATE KEY');
    expect(lines[0]).toMatchObject({ token: '[redacted]', headers: { authorization: '[redacted]', accept: 'text/plain' }, certificate: '[redacted]' });
  });

  it('a real `meshcp serve` writes only JSON lines: a rejected object with its field path, then the model applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'log-shape-'));
    try {
      const file = join(dir, 'mesh.yaml');
      writeFileSync(
        file,
        `apiVersion: meshcp.io/v1alpha1
kind: MeshService
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 70000}]
`,
      );
      const child = spawn(process.execPath, [MESHCP, 'serve', '--file', file, '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--insecure'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const deadline = Date.now() + 20_000;
      while (!stderr.includes('"serving"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      const lines = stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const line of lines) expect(Object.keys(line).slice(0, 3), JSON.stringify(line)).toEqual(['level', 'time', 'component']);
      expect(lines).toContainEqual(
        expect.objectContaining({ level: 'error', msg: 'rejected', object: 'MeshService shop/web', path: 'spec.ports[0].port', source: file }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'model applied', services: 0 }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
