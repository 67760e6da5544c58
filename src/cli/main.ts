#!/usr/bin/env node
/**
 * The `spillway` command as it ships. Subcommands are small modules (commands/); a checkout's
 * `npm run spillway` adds the local test bed's (testbed/main.ts).
 */
import { PRODUCT_COMMANDS } from "./commands/index.js";
import { dispatch } from "./dispatch.js";

process.exitCode = await dispatch(PRODUCT_COMMANDS, process.argv.slice(2));
