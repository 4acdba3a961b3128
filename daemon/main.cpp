// gatiod: parse the command line, then hand over to the command asked for.
#include <exception>
#include <iostream>

#include "daemon/cli.hpp"
#include "daemon/commands.hpp"
#include "daemon/exit_codes.hpp"
#include "daemon/run.hpp"

int main(int argc, char** argv) {
    using namespace gatio::daemon;
    try {
        auto cli = parse_command_line(argc, argv);
        if (!cli.options) {
            return cli.exit_code;
        }
        switch (cli.options->command) {
        case Command::check_config:
            return check_config(*cli.options);
        case Command::dump_config:
            return dump_config(*cli.options);
        case Command::version:
            return print_version();
        case Command::run:
            return run(*cli.options);
        }
        return exit_software;
    } catch (const std::exception& e) {
        std::cerr << "gatiod: internal error: " << e.what() << '\n';
        return exit_software;
    }
}
