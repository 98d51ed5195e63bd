/**
 * How an Envoy of a given version (or image) is provisioned and run. The matrix
 * talks only to this interface; podman and docker (a private dockerd) are tested here,
 * process is the fallback when no container runtime is available.
 */
import type { BinaryVersion } from './version.js';

export type RuntimeName = 'podman' | 'docker' | 'process';
export const RUNTIMES: readonly RuntimeName[] = ['podman', 'docker', 'process'];

/** One column of the matrix: a release version, or an image given on the command line. */
export interface EnvoyTarget {
  /** What the report calls it: the version, or the image ref. */
  label: string;
  version?: string;
  image?: string;
}

export interface Provisioned {
  target: EnvoyTarget;
  /** Container image to run (podman, docker). */
  image?: string;
  /** Envoy binary to run (process). */
  binary?: string;
  /** What provisioning did, for the report. */
  detail: string;
  /** For an image: the version its binary reports (`envoy --version`), and the one the table is read with. */
  envoyVersion?: BinaryVersion;
}

export interface EnvoyLaunch {
  /** Unique per cell; used as the container name. */
  name: string;
  /** Directory holding envoy.yaml (mounted read-only at /etc/envoy in containers). */
  configDir: string;
  /** Envoy arguments after `-c <bootstrap>`. */
  args: string[];
  /** Where the process runtime writes Envoy's output (containers keep their own log). */
  logFile: string;
  /** Labels put on containers so a run can sweep what it started. */
  labels: Record<string, string>;
}

export interface EnvoyInstance {
  readonly id: string;
  /** undefined while Envoy runs; otherwise why it is gone (e.g. "exited with code 1"). */
  exited(): Promise<string | undefined>;
  /** Envoy's stdout + stderr so far. */
  logs(): Promise<string>;
  /** Stops and removes; safe to call twice. */
  stop(): Promise<void>;
}

export interface EnvoyRuntime {
  readonly name: RuntimeName;
  /** Makes the target runnable (download, build or pull); throws with a clear reason. */
  provision(target: EnvoyTarget): Promise<Provisioned>;
  /** Starts Envoy; throws when it cannot even be started (image missing, runtime error). */
  start(provisioned: Provisioned, launch: EnvoyLaunch): Promise<EnvoyInstance>;
  /** Ids of containers (or processes) carrying this label that still exist. */
  list(label: string, value: string): Promise<string[]>;
  /** Removes anything still running with this label (a run's safety net); throws when that fails. */
  sweep(label: string, value: string): Promise<void>;
  /** Removes what runs that died left behind (containers whose owner process is gone); returns what it removed. */
  sweepOrphans?(): Promise<string[]>;
}

/** The Envoy arguments every cell uses; containers share the host network, hence no hot restart. */
export const ENVOY_ARGS = ['--disable-hot-restart', '--log-level', 'info', '--concurrency', '1', '--drain-time-s', '1'];
