// `sluice/server`: the broker (`sluice serve` in code) and a job's query
// server. A public entry (package.json "exports"): it loads prom-client and
// the sockets, which `sluice` itself does not.

export { Broker } from './broker.ts';
export type { BrokerOptions } from './broker.ts';
export { QueryServer } from './query-server.ts';
export type { QueryServerOptions } from './query-server.ts';
