// Print the Khronos glTF validator's report (JSON) for one .glb or .gltf file.
//
//   node tools/gltf/validate.mjs FILE [MAX_ISSUES]
//
// Uses the validator as a library (gltf-validator's validateBytes); external buffers and
// images of a .gltf are read relative to the file. Exit status 0 when a report was printed
// (whatever it says; tools/gltf/khronos_validate.py judges it), 2 when the file cannot be read.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { validateBytes } from 'gltf-validator';

const [file, maxIssues] = process.argv.slice(2);
if (!file) {
  console.error('usage: node validate.mjs FILE [MAX_ISSUES]');
  process.exit(2);
}

let bytes;
try {
  bytes = new Uint8Array(await readFile(file));
} catch (e) {
  console.error(`${file}: cannot read (${e.code || e.message})`);
  process.exit(2);
}

const folder = path.dirname(path.resolve(file));
const report = await validateBytes(bytes, {
  uri: path.basename(file),
  maxIssues: maxIssues ? Number(maxIssues) : 0,  // 0: no limit
  externalResourceFunction: async (uri) =>
    new Uint8Array(await readFile(path.join(folder, decodeURIComponent(uri)))),
});
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
