// Option checks shared by the connector factories. Every failure is a
// SluiceError INVALID_ARGUMENT naming the connector and the option, because a
// typo in a job's source definition should fail at build time, not mid-run.

import { SluiceError } from '../errors.ts';

export function invalid(connector: string, message: string): SluiceError {
  return new SluiceError('INVALID_ARGUMENT', `${connector}: ${message}`);
}

export function checkObject(connector: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(connector, `options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  return options as Record<string, unknown>;
}

export function checkString(connector: string, name: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw invalid(connector, `\`${name}\` must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

export function checkInt(connector: string, name: string, value: unknown, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(connector, `\`${name}\` must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkPort(connector: string, value: unknown): number {
  if (value === undefined) throw invalid(connector, '`port` is required (0 picks a free port)');
  return checkInt(connector, 'port', value, 0, 0, 65535);
}

export function checkOneOf<T extends string>(connector: string, name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(connector, `\`${name}\` must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

export function checkBoolean(connector: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(connector, `\`${name}\` must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

export function checkFunction<F>(connector: string, name: string, value: unknown): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(connector, `\`${name}\` must be a function, got ${typeof value}`);
  return value as F;
}

/** Where connector warnings go when the caller gives no `log` option: stderr, one line each. */
export function stderrLogger(message: string): void {
  process.stderr.write(`sluice: ${message}\n`);
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return (e as NodeJS.ErrnoException).code ?? e.message;
  return String(e);
}
