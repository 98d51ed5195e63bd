/** The Kubernetes source logs through the one logger shared with the server, so `setLogLevel` governs both. */
export { type Logger, logger } from '@meshcp/translators';
