// `node --import ./test/helpers/record-loads.mjs ...` appends the URL of every
// module the process loads to the file named by SLUICE_RECORD_LOADS. ESM has
// no require.cache to inspect afterwards, so a resolve hook records them as
// they are resolved (test/api/entry-points.test.ts).
import { register } from 'node:module';

register('./record-loads-hooks.mjs', import.meta.url);
