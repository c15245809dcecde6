// Every ```graphql fence of the README and docs/*.md holds exactly one named operation
// that validates against the committed SDL (graphql-js's own rules). Started by the e2e
// test `schema::documented_operations_validate_against_the_sdl` with the repository root
// as ROOT; prints one line per fence and exits non-zero listing every failure.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { buildSchema, parse, validate } from "graphql";

const root = process.env.ROOT;
if (!root) throw new Error("ROOT is not set");
const schema = buildSchema(readFileSync(join(root, "schema/graphql/vitrine.graphql"), "utf8"));
const markdown = (dir) => readdirSync(join(root, dir)).filter((f) => f.endsWith(".md")).map((f) => join(dir, f));
const files = ["README.md", ...markdown("docs"), ...markdown("docs/plugins")];
const failures = [];
let fences = 0;
for (const file of files) {
  const text = readFileSync(join(root, file), "utf8");
  const re = /```graphql\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    fences += 1;
    const line = text.slice(0, m.index).split("\n").length;
    const where = `${file}:${line}`;
    let doc;
    try {
      doc = parse(m[1]);
    } catch (e) {
      failures.push(`${where}: ${e.message}`);
      continue;
    }
    const ops = doc.definitions.filter((d) => d.kind === "OperationDefinition");
    if (ops.length !== 1 || !ops[0].name) {
      failures.push(`${where}: a fence holds one named operation (found ${ops.length}, ${ops.map((o) => (o.name ? o.name.value : "anonymous")).join(", ")})`);
      continue;
    }
    const errors = validate(schema, doc);
    for (const e of errors) failures.push(`${where} (${ops[0].name.value}): ${e.message}`);
    if (!errors.length) console.log(`ok - ${where} ${ops[0].name.value}`);
  }
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log(`${fences} fences`);
