/**
 * The flags with which a meshcp command that is itself an xDS client (`meshcp agent`,
 * `meshcp bootstrap`, `meshcp status --xds-address`) reaches a secure meshcp: the
 * trust bundle, a client certificate or a ServiceAccount token, and the name meshcp's
 * certificate carries. Declared and read once for all of them.
 */

/** parseArgs options: TLS to meshcp and a client certificate. */
export const XDS_TLS_FLAGS = {
  'xds-ca': { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  'xds-server-name': { type: 'string' },
} as const;

/** parseArgs options: XDS_TLS_FLAGS, or a projected ServiceAccount token instead of the certificate. */
export const XDS_CLIENT_FLAGS = { ...XDS_TLS_FLAGS, 'token-file': { type: 'string' } } as const;

export interface XdsClientFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  tokenFile?: string;
  serverName?: string;
}

/** What the flags name, each only when given (checking which must come together is the command's). */
export function xdsClientFiles(values: Readonly<Record<string, unknown>>): XdsClientFiles {
  const given = (flag: keyof typeof XDS_CLIENT_FLAGS) => {
    const value = values[flag];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const [caFile, certFile, keyFile, tokenFile, serverName] = [
    given('xds-ca'),
    given('client-cert'),
    given('client-key'),
    given('token-file'),
    given('xds-server-name'),
  ];
  return {
    ...(caFile ? { caFile } : {}),
    ...(certFile ? { certFile } : {}),
    ...(keyFile ? { keyFile } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(serverName ? { serverName } : {}),
  };
}
