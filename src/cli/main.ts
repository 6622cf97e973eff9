#!/usr/bin/env node
import { Command } from 'commander';
import { register as registerController } from './controller.js';
import { register as registerEmulator } from './emulator.js';
import { oneLine, oneLineErrors } from './errors.js';
import { register as registerGc } from './gc.js';
import { register as registerPlan } from './plan.js';

// Each command lives in its own module under src/cli/ and registers itself here.
const program = new Command();
program
  .name('tidemark')
  .description('Checkpoint storage for Spark Structured Streaming on GCS')
  .exitOverride((err) => {
    process.exit(err.exitCode);
  });
registerController(program);
registerEmulator(program);
registerGc(program);
registerPlan(program);
// Keep this after every register call: argument errors become one line for every command (src/cli/errors.ts).
oneLineErrors(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`tidemark: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  process.exit(1);
}
