import type { CommandModule } from 'yargs';
import { buildCommand } from './build.ts';
import { collectCommand, gateCommand } from './collect.ts';
import { compareTransportsCommand } from './compare-transports.ts';
import { demoCommand } from './demo.ts';
import { probeCommand } from './probe.ts';
import { runCommand } from './run.ts';
import { serverCommand } from './server.ts';

/**
 * Every top-level `starling` command, each defined in its own module. Add new ones (run, collect,
 * report, …) here; main.ts only wires this list into yargs. A command with subcommands types
 * its own argv in them (see server.ts) and exports a plain CommandModule.
 */
export const commands: readonly CommandModule[] = [
  buildCommand as CommandModule,
  serverCommand,
  probeCommand as CommandModule,
  runCommand as CommandModule,
  demoCommand as CommandModule,
  compareTransportsCommand as CommandModule,
  collectCommand as CommandModule,
  gateCommand as CommandModule,
];
