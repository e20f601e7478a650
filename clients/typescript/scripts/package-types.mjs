// Marks each build's module format for Node: dist/esm is ESM, dist/cjs is CommonJS.
import { writeFileSync } from "node:fs";

writeFileSync(new URL("../dist/esm/package.json", import.meta.url), '{"type": "module"}\n');
writeFileSync(new URL("../dist/cjs/package.json", import.meta.url), '{"type": "commonjs"}\n');
