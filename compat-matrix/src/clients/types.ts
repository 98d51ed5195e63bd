/** Types the client axis shares with the control plane and translators, named once. */
export type { GrpcProfile } from '@meshcp/translators';
export type { ResourceHook as ResourceHookLike } from 'meshcp';
