export { instrument, instrumentServer } from './instrument.js';
export { SocklifeInstrumentation } from './instrumentation.js';
export { optionsFromEnv, envVariableName, DEFAULT_OPTIONS } from './config.js';
export { TcpState, ALL_TCP_STATES } from './tcp-states.js';
export type { StateSource } from './tcp-states.js';
export type { SocklifeOptions, SocklifeHandle, ResolvedOptions, SourceOption, SpanPolicy, SocklifeInstrumentationConfig } from './types.js';
export type { CloseWaitCause } from './detect/close-wait-leak.js';
export { SCOPE_NAME } from './report/providers.js';
export { VERSION } from './version.js';
