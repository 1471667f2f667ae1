// Saving a segment's index on a full disk: the write fails, and must leave no
// `.tmp` file behind (it only takes space the user is trying to free) and say
// which index could not be written. The tmp path is a symlink to /dev/full, so
// the kernel itself reports ENOSPC on the write, exactly where a full disk would.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { SegmentIndex, indexPath, timeIndexPath } from '../../src/log/file/segment-index.ts';
import { ErrorCodes, isSluiceError } from '../../src/errors.ts';
import { tmpDir } from '../helpers/tmp.ts';

const skip = fs.existsSync('/dev/full') ? false : 'needs /dev/full (Linux)';

for (const which of ['offset', 'time'] as const) {
  test(`ENOSPC writing the ${which} index: the tmp file is removed and the error names the index file`, { skip }, (t) => {
    const log = join(tmpDir(t), '00000000000000000000.log');
    fs.writeFileSync(log, '');
    const target = which === 'offset' ? indexPath(log) : timeIndexPath(log);
    fs.symlinkSync('/dev/full', `${target}.tmp`);
    const index = new SegmentIndex();
    index.onBatch(0, 0, 1000, 100);
    assert.throws(
      () => index.persist(log, 100),
      (e: unknown) => {
        assert.ok(isSluiceError(e), `a SluiceError, got ${String(e)}`);
        assert.equal(e.code, ErrorCodes.IO_ERROR);
        assert.match(e.message, /ENOSPC/);
        assert.ok(e.message.includes(target), `names ${target}: ${e.message}`);
        assert.match(e.message, /disk is full/);
        return true;
      },
    );
    assert.equal(fs.existsSync(`${target}.tmp`) || isLink(`${target}.tmp`), false, 'the tmp file is gone');
    assert.equal(fs.existsSync(target), false, 'the failed index was not renamed into place');
  });
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
