// A command timed by /usr/bin/time: wall, and CPU (user + sys) of it and of
// every child it waited for — the runtime and the program it runs, or every
// process of a shell pipeline. CPU is what the shared, loaded benchmark
// machine cannot blur much.

import { spawn } from 'node:child_process';

export interface Timed {
  wallS: number;
  cpuS: number;
  stderr: string;
}

export function timed(cmd: string[], env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIMED %e %U %S', ...cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /TIMED ([\d.]+) ([\d.]+) ([\d.]+)/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`${cmd.join(' ')} exited ${code}: ${stderr}`));
      resolve({ wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), stderr });
    });
  });
}

/** `cat file | cmd > /dev/null`, or with the outputs read by another process (`| cat > /dev/null`). */
export function pipeline(file: string, cmd: string[], outputsRead = false): Promise<Timed> {
  return timed(['sh', '-c', `cat '${file}' | ${cmd.map((c) => `'${c}'`).join(' ')}${outputsRead ? ' | cat' : ''} > /dev/null`]);
}
