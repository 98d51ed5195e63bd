/** The fallback without containers: the cached Envoy binary as a child process. */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { installEnvoy } from 'meshcp';
import { stopProcess } from '../support/process.js';
import type { EnvoyInstance, EnvoyLaunch, EnvoyRuntime, EnvoyTarget, Provisioned } from './types.js';

export class ProcessRuntime implements EnvoyRuntime {
  readonly name = 'process' as const;
  private readonly running = new Map<string, { labels: Record<string, string>; stop: () => Promise<void> }>();

  async provision(target: EnvoyTarget): Promise<Provisioned> {
    if (target.image) throw new Error(`the process runtime runs binaries, not images (${target.image}); use --runtime podman or docker`);
    const binary = await installEnvoy(target.version as string);
    return { target, binary, detail: `binary ${binary}` };
  }

  async start(provisioned: Provisioned, launch: EnvoyLaunch): Promise<EnvoyInstance> {
    if (!provisioned.binary) throw new Error(`process: no binary provisioned for ${provisioned.target.label}`);
    const log = createWriteStream(launch.logFile);
    const child = spawn(provisioned.binary, ['-c', join(launch.configDir, 'envoy.yaml'), ...launch.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    await new Promise<void>((resolve) => {
      child.once('spawn', resolve);
      child.once('error', () => resolve());
    });
    if (spawnError) throw new Error(`cannot start ${provisioned.binary}: ${spawnError}`);
    const stop = async () => {
      await stopProcess(child, 3000);
      this.running.delete(launch.name);
      await new Promise<void>((resolve) => log.end(resolve));
    };
    this.running.set(launch.name, { labels: launch.labels, stop });
    return {
      id: `pid ${child.pid}`,
      exited: async () =>
        spawnError ?? (child.exitCode !== null ? `exited with code ${child.exitCode}` : child.signalCode ? `killed by ${child.signalCode}` : undefined),
      logs: async () => {
        try {
          return readFileSync(launch.logFile, 'utf8');
        } catch {
          return '';
        }
      },
      stop,
    };
  }

  async list(label: string, value: string): Promise<string[]> {
    return [...this.running.entries()].filter(([, e]) => e.labels[label] === value).map(([name]) => name);
  }

  async sweep(label: string, value: string): Promise<void> {
    for (const entry of [...this.running.values()]) if (entry.labels[label] === value) await entry.stop();
  }
}
