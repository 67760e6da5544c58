// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const CDKTF_MESSAGE = "cdktf stays inside infra/; tests use infra/testing.ts";
const CDKTF_PATHS = ["cdktf", "constructs"].map((name) => ({ name, message: CDKTF_MESSAGE }));
/** Provider submodules keep type-checking fast: the package root loads every resource (2.8 s / 560 MB). */
const PROVIDER_ROOTS = ["aws", "google"].map((p) => ({
  name: `@cdktf/provider-${p}`,
  message: `import from @cdktf/provider-${p}/lib/<resource>/index.js`,
}));
const CDKTF_PATTERN = { group: ["cdktf/*", "@cdktf/*"], message: CDKTF_MESSAGE };

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".tools/", ".run/", "**/.gen/", "cdktf.out/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      // @kubernetes/client-node models are classes without behaviour; its API takes plain objects.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      "@typescript-eslint/no-misused-spread": "off",
      "no-restricted-imports": [
        "error",
        {
          paths: PROVIDER_ROOTS,
        },
      ],
    },
  },
  {
    // Every cdktf import stays in infra/ (tests use infra/testing.ts): CDKTF is archived upstream, and a
    // move to a fork should touch one folder.
    files: ["src/**/*.ts", "testbed/**/*.ts", "tests/**/*.ts", "scripts/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { paths: CDKTF_PATHS, patterns: [CDKTF_PATTERN] }],
    },
  },
  {
    // The shipped code never carries the local test bed: testbed/ may import src/ and infra/, never the
    // reverse. (A later block replaces a rule's options, so src/ repeats the cdktf restriction.)
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: CDKTF_PATHS,
          patterns: [
            CDKTF_PATTERN,
            { group: ["**/testbed/**"], message: "the product never imports the local test bed (testbed/)" },
          ],
        },
      ],
    },
  },
  {
    files: ["infra/**/*.ts"],
    ignores: ["infra/.gen/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: PROVIDER_ROOTS,
          patterns: [
            { group: ["**/testbed/**"], message: "infra never imports the local test bed (testbed/)" },
          ],
        },
      ],
    },
  },
  {
    // Tests and benchmarks read JSON bodies (typed any) and assert or print their shape.
    files: ["tests/**/*.ts", "scripts/bench/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
