import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands.ts';

const cli = yargs(hideBin(process.argv))
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

for (const command of commands) cli.command(command);

await cli.parseAsync();
