/**
 * The README's per-language proxyless gRPC support table, generated from the
 * capability tables (translators/test/grpc-capabilities.test.ts fails if the
 * README drifts from it).
 */
import { type CORE_LANGUAGES, GRPC_CAPABILITIES, GRPC_DEFECTS, GRPC_MINIMUM, GRPC_REQUIREMENTS, type GrpcImplementation } from './capabilities.js';

const COLUMNS: { title: string; implementation: GrpcImplementation; language?: (typeof CORE_LANGUAGES)[number] }[] = [
  { title: 'Go (grpc-go)', implementation: 'grpc-go' },
  { title: 'Java (grpc-java)', implementation: 'grpc-java' },
  { title: 'Python, C++ (C-core)', implementation: 'grpc-core', language: 'python' },
  { title: 'Ruby (C-core)', implementation: 'grpc-core', language: 'ruby' },
  { title: 'PHP (C-core)', implementation: 'grpc-core', language: 'php' },
  { title: 'Node (grpc-js-xds)', implementation: 'grpc-node' },
];

export const SUPPORT_TABLE_BEGIN = '<!-- grpc-support-table: generated from translators/src/grpc/capabilities.ts; do not edit by hand -->';
export const SUPPORT_TABLE_END = '<!-- /grpc-support-table -->';

export function grpcSupportTable(): string {
  const head = ['meshcp feature', 'gRFC', ...COLUMNS.map((c) => c.title)];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  lines.push(`| served at all (xDS v3) | A30 | ${COLUMNS.map((c) => `${GRPC_MINIMUM[c.implementation]}+`).join(' | ')} |`);
  for (const req of GRPC_REQUIREMENTS) lines.push(`| ${req.id}: always sent, every client | ${req.grfc} | ${COLUMNS.map(() => 'required').join(' | ')} |`);
  for (const row of GRPC_CAPABILITIES) {
    const cells = COLUMNS.map((c) => {
      if (c.language && row.coreExcept?.includes(c.language)) return '—';
      if (row.broken?.[c.implementation]) return 'not sent: measured broken';
      const since = row.since[c.implementation];
      return since ? `${since}+` : '—';
    });
    lines.push(`| ${row.title} | ${row.grfc} | ${cells.join(' | ')} |`);
  }
  for (const defect of GRPC_DEFECTS) {
    const cells = COLUMNS.map((c) => (c.implementation === defect.implementation ? `known bug before ${defect.fixedBy}` : ''));
    lines.push(`| ${defect.id} (client bug, shown as degraded) | | ${cells.join(' | ')} |`);
  }
  return `${SUPPORT_TABLE_BEGIN}\n${lines.join('\n')}\n${SUPPORT_TABLE_END}`;
}
