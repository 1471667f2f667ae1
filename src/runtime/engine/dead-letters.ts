// What a record that fails becomes: a dead letter carrying the reason in its
// headers, bound for the job's dead-letter topic — or, if the application
// chose onError 'stop', the error that stops the job. Never silently dropped
// (DESIGN.md, bad input).

import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { ErrorPolicy } from '../../dataflow/application.ts';
import type { Headers } from '../../record.ts';

/** A record that could not be decoded or processed, bound for the dead-letter topic. */
export interface DeadLetter {
  value: Uint8Array | null;
  headers: Headers;
  timestamp: number;
}

export type Stage = 'decode' | 'process' | 'encode';

/** Where the failing record came from; `value` when it was decoded (what the dead letter carries if no raw bytes do). */
export interface FailedAt {
  origin: string;
  position: number;
  timestamp: number;
  value?: unknown;
}

/** Buffer.from is several times faster than TextEncoder#encode for short strings (see codec.ts). */
export const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/**
 * The dead letter for a record that failed at `stage` in operator `operator`
 * of job `job`; throws instead when the policy is 'stop'. `raw` is the
 * undecoded value when there is one.
 */
export function deadLetter(policy: ErrorPolicy, job: string, stage: Stage, operator: string, err: unknown, at: FailedAt, raw?: Uint8Array | null): DeadLetter {
  const message = err instanceof Error ? err.message : String(err);
  const where = `${at.origin} at ${at.position}`;
  if (policy === 'stop') {
    throw new SluiceError(
      ErrorCodes.USER_FUNCTION_FAILED,
      `${stage === 'decode' ? 'cannot decode' : stage === 'encode' ? 'cannot encode' : 'operator failed on'} the record from ${where} in ${operator}: ${message}. The job stopped (onError: 'stop'); fix the input or the code and restart: it resumes from its last commit.`,
      { stage, operator, origin: at.origin, position: at.position },
      { cause: err },
    );
  }
  let value: Uint8Array | null;
  if (raw !== undefined) value = raw;
  else {
    try {
      value = utf8(JSON.stringify(at.value) ?? 'null');
    } catch {
      value = utf8(String(at.value));
    }
  }
  return {
    value,
    timestamp: at.timestamp,
    headers: {
      'sluice.error': message,
      'sluice.stage': stage,
      'sluice.operator': operator,
      'sluice.origin': at.origin,
      'sluice.position': String(at.position),
      'sluice.job': job,
    },
  };
}
