// Issue 11: no function in src/ has more than MAX lines of its own body (nested functions count for
// themselves, not for the function that holds them). Run by `npm run lint`; exits 1 naming each offender.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const MAX = 120;

/** Every .ts file under dir. */
function filesUnder(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const isFunction = (n) =>
  (ts.isFunctionDeclaration(n) ||
    ts.isMethodDeclaration(n) ||
    ts.isArrowFunction(n) ||
    ts.isFunctionExpression(n) ||
    ts.isConstructorDeclaration(n) ||
    ts.isGetAccessor(n) ||
    ts.isSetAccessor(n)) &&
  n.body !== undefined;

const offenders = [];
for (const file of filesUnder("src")) {
  const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const lines = (n) => src.getLineAndCharacterOfPosition(n.body.getEnd()).line - src.getLineAndCharacterOfPosition(n.body.getStart()).line + 1;
  const visit = (n) => {
    if (isFunction(n)) {
      let nested = 0;
      const inner = (m) => {
        if (isFunction(m)) nested += lines(m);
        else ts.forEachChild(m, inner);
      };
      ts.forEachChild(n.body, inner);
      const own = lines(n) - nested;
      if (own > MAX) {
        const at = src.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        offenders.push(`${file}:${at}: ${n.name?.getText() ?? "(anonymous function)"} has ${own} lines of its own body (at most ${MAX})`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
}
for (const o of offenders) console.error(o);
process.exit(offenders.length > 0 ? 1 : 0);
