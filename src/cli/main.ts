import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { setExternalImporter } from '../build/import-external.ts';
import { chosenCommand, commands } from './commands.ts';

/**
 * The `starling` command line (bin/starling.js calls this). `importer` is the launcher's own import(), lent to a
 * bundle compiled from V8's code cache, whose own import() does not work in Node 20 (build/import-external.ts).
 */
export async function main(importer?: (specifier: string) => Promise<unknown>): Promise<void> {
  if (importer) setExternalImporter(importer);
  const args = hideBin(process.argv);
  const cli = yargs(args)
    .scriptName('starling')
    .usage('$0 <command> [options]')
    .strict()
    .demandCommand(1, 'Name a command (see --help).')
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((message, error, instance) => {
      if (error) {
        // Errors from a command's work are typed and say what to do: no usage dump.
        process.stderr.write(`starling: ${error.message}\n`);
      } else {
        process.stderr.write(`${instance.help()}\n\n${message}\n`);
      }
      process.exit(1);
    });

  // Only the command being run is loaded; the others are listed by name and description (for --help and
  // "did you mean"), without their modules.
  const chosen = chosenCommand(args);
  for (const command of commands) {
    if (command === chosen) {
      cli.command({ ...(await command.load()), command: command.command, describe: command.describe });
    } else cli.command(command.command, command.describe);
  }

  // yargs lays out the running command's whole help right after starting its handler (usage.cacheHelpMessage, for
  // a later failure); our fail() asks for help() when it needs it, so that work (~9 ms of every start) is skipped.
  const usage = (
    cli as unknown as {
      getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } };
    }
  )
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};

  await cli.parseAsync();
}
