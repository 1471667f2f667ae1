// The one check of an event time a user function produced (a timestamp
// extractor, an emit's `timestamp`): the log stores integer ms in
// 0..MAX_TIMESTAMP, so anything else fails the event it belongs to — which
// the job's error policy then dead-letters — instead of the whole job at the
// sink's append. Fractions (seconds * 1000 in floating point) are truncated.

import { SluiceError, ErrorCodes } from '../../errors.ts';
import { timestampProblem } from '../../record.ts';

export function eventTime(ts: unknown, from: string): number {
  const t = typeof ts === 'number' && Number.isFinite(ts) ? Math.floor(ts) : ts;
  const problem = timestampProblem(t);
  if (problem !== null) throw new SluiceError(ErrorCodes.INVALID_ARGUMENT, `${from} gave an event time that cannot be stored: ${problem}`);
  return t as number;
}
