/** The server logs through the one logger shared with the Kubernetes source (translators/src/log.ts). */
export { type Level, type Logger, logger, setLogLevel } from '@meshcp/translators';
