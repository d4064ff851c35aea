// Validate MapLibre styles with the official style-spec validator.
// Usage: node tiles/validate-styles.mjs FILE_OR_DIR... ; exits 1 when any style is invalid.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { latest, validateStyleMin } from "@maplibre/maplibre-gl-style-spec";

function expand(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((name) => name.endsWith(".json"))
      .sort()
      .map((name) => join(path, name));
  }
  return [path];
}

const files = process.argv.slice(2).flatMap(expand);
let invalid = 0;
for (const file of files) {
  let errors;
  try {
    errors = validateStyleMin(JSON.parse(readFileSync(file, "utf8")), latest);
  } catch (err) {
    errors = [{ message: String(err) }];
  }
  if (errors.length > 0) {
    invalid += 1;
    for (const error of errors) {
      console.error(`${file}: ${error.message}`);
    }
  }
}
console.log(`${files.length - invalid} valid, ${invalid} invalid`);
process.exit(invalid > 0 ? 1 : 0);
