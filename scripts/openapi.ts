/**
 * `npm run openapi`: writes the OpenAPI documents and the event JSON Schema
 * (src/http/openapi) to schemas/. Commit what it writes: the unit test
 * src/http/openapi/document.test.ts fails while the files are stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../src/http/openapi/index.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
for (const [file, text] of Object.entries(generatedFiles())) {
  const target = path.join(root, file);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${file} (${text.length} bytes)`);
}
