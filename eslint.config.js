// Lint with types (typescript-eslint's recommended-type-checked): in code that juggles this many promises,
// a promise nobody awaits or a promise passed where a callback is expected is a bug the compiler lets through.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["dist/", "coverage/", "node_modules/"] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Named here, though recommended-type-checked has them, because they are why this config exists.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      // async is used on purpose without await: to implement async interfaces (an async generator of rows) and
      // to turn a synchronous failure into a rejection for callers that await.
      "@typescript-eslint/require-await": "off",
      // A variable read by a closure before its one assignment cannot be const (the closure would hit the TDZ).
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // Rejecting with a value typed any/unknown (an AbortSignal's reason) passes it on; literals are still caught.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
      // A leading underscore names what is there on purpose and unused (a destructured-away field, an argument).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // vitest's asymmetric matchers (expect.any(), expect.stringMatching()) are typed any by vitest itself, and
      // tests take apart JSON.parse's any; the assertions that follow are the check.
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      // Tests match what a terminal receives: escape sequences (\x1b) and columns aligned with spaces.
      "no-control-regex": "off",
      "no-regex-spaces": "off",
    },
  },
  {
    // Plain JavaScript (this file, the bin shim) is outside the TypeScript project.
    files: ["**/*.js", "**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);
