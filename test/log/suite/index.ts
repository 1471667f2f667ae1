// The whole shared log suite: every test of the Log interface (and of the
// Producer and Consumer on top of it), for one implementation. See factory.ts
// for what a factory must provide.

import type { LogFactory } from './factory.ts';
import { batchSuite } from './batches.ts';
import { consumerSuite } from './consumer.ts';
import { groupSuite } from './groups.ts';
import { memberTransactionSuite } from './member-transactions.ts';
import { producerSuite } from './producer.ts';
import { recordSuite } from './records.ts';
import { retentionSuite } from './retention.ts';
import { transactionSuite } from './transactions.ts';

export type { LogFactory } from './factory.ts';
export { batchSuite, consumerSuite, groupSuite, memberTransactionSuite, producerSuite, recordSuite, retentionSuite, transactionSuite };

export function logSuite(f: LogFactory): void {
  recordSuite(f);
  batchSuite(f);
  groupSuite(f);
  transactionSuite(f);
  memberTransactionSuite(f);
  retentionSuite(f);
  producerSuite(f);
  consumerSuite(f);
}
